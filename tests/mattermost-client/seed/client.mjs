// The seed's client (seeds/002, "WebSocket統合設計"), as written there with the TypeScript types
// removed, plus the glue the document leaves undefined (marked GLUE). Nothing in the seed's
// own lines is changed to suit the hub: where the seed and Mattermost disagree (post_deleted's
// data.post), the seed gets what Mattermost sends.

// GLUE: the app state and dispatch of the seed's AppContext, recorded for the test.
export const state = { currentChannel: null, actions: [], isConnected: false, error: null };
export const dispatch = (action) => {
  state.actions.push(action);
  if (action.type === 'SET_CONNECTED') state.isConnected = action.payload;
  if (action.type === 'SET_ERROR') state.error = action.payload;
};
const logError = (entry) => state.actions.push({ type: 'LOG_ERROR', payload: entry });

// seeds/002 § イベント処理: the handlers it names.
const handleNewPost = (data) => {
  const post = JSON.parse(data.post);
  dispatch({ type: 'ADD_POST', payload: { channelId: post.channel_id, post } });
};
const handlePostEdit = (data) => {
  const post = JSON.parse(data.post);
  dispatch({ type: 'UPDATE_POST', payload: { channelId: post.channel_id, post } });
};
const handlePostDelete = (data) => {
  dispatch({ type: 'DELETE_POST', payload: { channelId: data.channel_id, postId: data.post.id } });
};
const handleTypingIndicator = (data) => dispatch({ type: 'TYPING', payload: data });
const handleStatusChange = (data) => dispatch({ type: 'STATUS', payload: data });

// seeds/002 § イベント処理
const handleWebSocketEvent = (event) => {
  const { event: eventType, data } = event;

  switch (eventType) {
    case 'posted':
      handleNewPost(data);
      break;

    case 'post_edited':
      handlePostEdit(data);
      break;

    case 'post_deleted':
      handlePostDelete(data);
      break;

    case 'typing':
      handleTypingIndicator(data);
      break;

    case 'status_change':
      handleStatusChange(data);
      break;

    default:
      console.log('Unhandled WebSocket event:', eventType);
  }
};

// seeds/002 § イベントフィルタリング
const shouldProcessEvent = (event) => {
  const { currentChannel } = state;

  if (!currentChannel) return false;

  // チャンネル固有のイベント
  if (event.data.channel_id) {
    return event.data.channel_id === currentChannel.id;
  }

  // グローバルイベント（ユーザーステータスなど）
  return ['status_change', 'user_updated'].includes(event.event);
};

// seeds/002 § メッセージ検証 (VALID_EVENT_TYPES from its event table)
const VALID_EVENT_TYPES = ['posted', 'post_edited', 'post_deleted', 'channel_viewed', 'typing', 'user_updated', 'status_change'];
const validateMessage = (message) => {
  // 必須フィールドの確認
  if (!message.event || !message.data) {
    return false;
  }

  // イベントタイプの検証
  if (!VALID_EVENT_TYPES.includes(message.event)) {
    return false;
  }

  return true;
};

// seeds/002 § 接続管理, 認証フロー, 再接続戦略, エラーハンドリング
export class WebSocketManager {
  ws = null;
  reconnectTimer = null;
  reconnectAttempts = 0;
  maxReconnectAttempts = 5;
  reconnectDelay = 3000;

  // GLUE: what the seed calls but does not define.
  listeners = new Map();
  lastUrl = null;
  lastToken = null;
  once(name, fn) { this.on(name, fn, true); }
  on(name, fn, once = false) {
    const list = this.listeners.get(name) ?? [];
    list.push({ fn, once });
    this.listeners.set(name, list);
  }
  emit(name, data) {
    const list = this.listeners.get(name) ?? [];
    this.listeners.set(name, list.filter((l) => !l.once));
    for (const l of list) l.fn(data);
  }
  handleOpen() { this.reconnectAttempts = 0; }
  handleMessage(message) {
    // seeds/002 § メッセージ処理エラー
    try {
      const eventData = JSON.parse(message.data);
      // GLUE: Mattermost answers the challenge with hello (and a reply); the seed waits for
      // an 'authenticated' signal (protocols/mattermost.md §8).
      if (eventData.event === 'hello') this.emit('authenticated');
      if (validateMessage(eventData)) {
        this.emit(eventData.event, eventData.data);
        if (shouldProcessEvent(eventData)) handleWebSocketEvent(eventData);
      }
    } catch (error) {
      console.error('Failed to process WebSocket message:', error);

      // エラーをログに記録するが、接続は維持
      logError({
        type: 'WEBSOCKET_MESSAGE_ERROR',
        error: error.message,
        rawMessage: message.data
      });
    }
  }
  handleConnectionError(error) { dispatch({ type: 'SET_ERROR', payload: String(error) }); }
  disconnect() { clearTimeout(this.reconnectTimer); this.maxReconnectAttempts = 0; this.ws?.close(); }

  async connect(url, token) {
    this.lastUrl = url; // GLUE: scheduleReconnect reads these.
    this.lastToken = token;
    try {
      this.ws = new WebSocket(url);
      this.setupEventHandlers();
      // GLUE: the seed sends its challenge right away; a browser socket must be open first.
      await new Promise((ok) => { this.ws.addEventListener('open', ok, { once: true }); });
      await this.authenticate(token);
    } catch (error) {
      this.handleConnectionError(error);
    }
  }

  setupEventHandlers() {
    if (!this.ws) return;

    this.ws.onopen = this.handleOpen.bind(this);
    this.ws.onmessage = this.handleMessage.bind(this);
    this.ws.onclose = this.handleClose.bind(this);
    this.ws.onerror = this.handleError.bind(this);
  }

  authenticate = async (token) => {
    const authMessage = {
      action: 'authentication_challenge',
      data: {
        token: token
      }
    };

    this.ws?.send(JSON.stringify(authMessage));

    // 認証レスポンスを待つ
    return new Promise((resolve, reject) => {
      const timeout = setTimeout(() => {
        reject(new Error('Authentication timeout'));
      }, 5000);

      this.once('authenticated', () => {
        clearTimeout(timeout);
        resolve();
      });
    });
  };

  handleClose = (event) => {
    console.log('WebSocket closed:', event.code, event.reason);

    // 正常終了でない場合は再接続を試みる
    if (!event.wasClean && this.reconnectAttempts < this.maxReconnectAttempts) {
      this.scheduleReconnect();
    }
  };

  scheduleReconnect() {
    this.reconnectAttempts++;

    const delay = this.reconnectDelay * Math.pow(2, this.reconnectAttempts - 1);
    console.log(`Reconnecting in ${delay}ms (attempt ${this.reconnectAttempts})`);

    this.reconnectTimer = setTimeout(() => {
      this.connect(this.lastUrl, this.lastToken);
    }, delay);
  }

  handleError = (error) => {
    console.error('WebSocket error:', error);

    // ユーザーに通知
    dispatch({
      type: 'SET_ERROR',
      payload: 'リアルタイム接続でエラーが発生しました'
    });

    // 接続状態を更新
    dispatch({ type: 'SET_CONNECTED', payload: false });
  };
}
