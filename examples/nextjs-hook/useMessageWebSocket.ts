// The React hook of seeds/000 (useMessageWebSocket), unchanged in what it sends and reads,
// with two additions: the hub's base URL is a parameter (the seed hard-codes
// ws://localhost:8000), and a dropped connection is re-opened with capped exponential backoff
// and jitter (the seed leaves "reconnect" to the reader).
import { useCallback, useEffect, useRef, useState } from 'react';

export interface Message {
  id: number;
  sender: { id: number; name: string };
  recipient: { id: number; name: string };
  community: { id: number; name: string } | null;
  subject: string;
  body: string;
  is_read: boolean;
  read_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface Options {
  /** ws:// or wss:// origin of the hub; defaults to the seed's ws://localhost:8000. */
  baseUrl?: string;
  /** First reconnect delay in ms (doubles up to maxDelayMs). */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

export function useMessageWebSocket(token: string, options: Options = {}) {
  const { baseUrl = 'ws://localhost:8000', initialDelayMs = 500, maxDelayMs = 10000 } = options;
  const [messages, setMessages] = useState<Message[]>([]);
  const [unreadCount, setUnreadCount] = useState(0);
  const [connected, setConnected] = useState(false);
  const wsRef = useRef<WebSocket | null>(null);

  useEffect(() => {
    if (!token) return;
    let stopped = false;
    let attempt = 0;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let pingInterval: ReturnType<typeof setInterval> | undefined;

    const open = () => {
      const ws = new WebSocket(`${baseUrl}/ws/messages/?token=${token}`);
      wsRef.current = ws;

      ws.onopen = () => {
        attempt = 0;
        setConnected(true);
      };

      ws.onmessage = (event) => {
        const data = JSON.parse(event.data);
        if (data.type === 'new_message') {
          setMessages((prev) => [data.message, ...prev]);
        } else if (data.type === 'message_read') {
          setMessages((prev) =>
            prev.map((msg) => (msg.id === data.message_id ? { ...msg, is_read: true, read_at: data.read_at } : msg)),
          );
        } else if (data.type === 'unread_count') {
          setUnreadCount(data.count);
        }
      };

      ws.onerror = (error) => {
        console.error('WebSocket error:', error);
      };

      ws.onclose = (event) => {
        setConnected(false);
        // 4000-4099: the server says do not come back (bad token, forbidden).
        if (stopped || (event.code >= 4000 && event.code < 4100)) return;
        const delay = Math.min(maxDelayMs, initialDelayMs * 2 ** attempt) * (0.5 + Math.random() / 2);
        attempt += 1;
        retry = setTimeout(open, delay);
      };
    };

    open();
    // The seed's keep-alive ping every 30 s.
    pingInterval = setInterval(() => {
      if (wsRef.current?.readyState === WebSocket.OPEN) {
        wsRef.current.send(JSON.stringify({ type: 'ping' }));
      }
    }, 30000);

    return () => {
      stopped = true;
      clearInterval(pingInterval);
      clearTimeout(retry);
      wsRef.current?.close();
    };
  }, [token, baseUrl, initialDelayMs, maxDelayMs]);

  const markAsRead = useCallback((messageId: number) => {
    if (wsRef.current?.readyState === WebSocket.OPEN) {
      wsRef.current.send(JSON.stringify({ type: 'mark_read', message_id: messageId }));
    }
  }, []);

  const getUnreadCount = useCallback((communityId?: number) => {
    if (wsRef.current?.readyState === WebSocket.OPEN) {
      wsRef.current.send(JSON.stringify({ type: 'get_unread_count', community_id: communityId }));
    }
  }, []);

  return { messages, unreadCount, connected, markAsRead, getUnreadCount };
}
