"""ASGI entry point as the Channels tutorial (part 2) writes it: the Django app for HTTP, and
for WebSockets the origin check and the session/auth middleware around the chat routes."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproj.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import re_path  # noqa: E402

from chatproj.consumers import ChatConsumer  # noqa: E402

# The tutorial's pattern is `\w+`; the benchmark's room names also use `-` and `.`.
websocket_urlpatterns = [re_path(r"ws/chat/(?P<room_name>[\w.-]+)/$", ChatConsumer.as_asgi())]

application = ProtocolTypeRouter({
    "http": django_asgi_app,
    "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
})
