//! Shared presence in Redis: per-topic records of every node's connections, kept by Lua
//! scripts so that "first connection of a user anywhere" and "last one anywhere" are decided
//! once, atomically, whatever the nodes do at the same moment.
//!
//! Keys (`P` is `{REDIS_PREFIX}hub:`):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P p:{topic}:c` | hash | `{node}:{conn}` → `{"k": user key, "f": farewell?, "a": every connection?}` |
//! | `P p:{topic}:u` | hash | user key → connections on every node |
//! | `P p:{topic}:n` | hash | user key → `{"i": id, "n": name}` |
//! | `P p:{topic}:o` | sorted set | user key → arrival number (the order `connected` lists) |
//! | `P seq` | string | the arrival counter |
//! | `P node:{node}:topics` | hash | topic → this node's connections there |
//! | `P node:{node}:alive` | string | present while the node lives (TTL `HUB_PRESENCE_TTL_MS`) |
//! | `P nodes` | sorted set | node → last heartbeat (Unix ms) |
//!
//! Every node refreshes its `alive` key three times per TTL. Every node, twice per TTL, looks
//! for nodes whose key expired (killed, or cut off from Redis for longer than the TTL): one
//! of them claims the dead node atomically (`ZREM`), removes its connections and publishes
//! their farewells (a user's `disconnectOther` when it was their last connection anywhere, a
//! guitar `connection_update` for every one) on every node. A dead node's members are thus
//! gone within two TTLs. A node that shuts down keeps its heartbeat until it exits: its
//! sessions leave one by one, each removing its own record.
//!
//! The scripts compute key names from the prefix, so they need one Redis, not a cluster.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde::{Deserialize, Serialize};

use super::presence::{PresenceError, PresenceMember, Present, SharedPresence};
use super::redis::connect;
use super::{NodeId, Orphaned, RelayInbox};
use crate::hub::{Topic, UserRef};
use crate::metrics::Metrics;

/// How long a presence call may take; past it the room uses its own count.
const CALL_TIMEOUT: Duration = Duration::from_secs(1);

/// Adds and removes one connection's record; shared by every script below.
const PRELUDE: &str = r#"
local function add(P, node, topic, conn, userkey, entry, userjson)
  local base = P .. 'p:' .. topic
  if redis.call('HSETNX', base .. ':c', node .. ':' .. conn, entry) == 0 then return -1 end
  redis.call('HINCRBY', P .. 'node:' .. node .. ':topics', topic, 1)
  if redis.call('HINCRBY', base .. ':u', userkey, 1) == 1 then
    redis.call('HSET', base .. ':n', userkey, userjson)
    redis.call('ZADD', base .. ':o', redis.call('INCR', P .. 'seq'), userkey)
    return 1
  end
  return 0
end
local function drop(P, node, topic, field)
  local base = P .. 'p:' .. topic
  local entry = redis.call('HGET', base .. ':c', field)
  if not entry then return nil, -1 end
  redis.call('HDEL', base .. ':c', field)
  local topics = P .. 'node:' .. node .. ':topics'
  if redis.call('HINCRBY', topics, topic, -1) <= 0 then redis.call('HDEL', topics, topic) end
  local e = cjson.decode(entry)
  local left = redis.call('HINCRBY', base .. ':u', e.k, -1)
  if left <= 0 then
    redis.call('HDEL', base .. ':u', e.k)
    redis.call('HDEL', base .. ':n', e.k)
    redis.call('ZREM', base .. ':o', e.k)
    left = 0
  end
  return e, left
end
"#;

/// ARGV: prefix, node, topic, conn, user key, entry, user JSON →
/// {first (1/0), connections, user keys in arrival order, flat user key → user JSON}.
const JOIN: &str = r#"
local P, node, topic = ARGV[1], ARGV[2], ARGV[3]
local first = add(P, node, topic, ARGV[4], ARGV[5], ARGV[6], ARGV[7])
local base = P .. 'p:' .. topic
return {first == 1 and 1 or 0, redis.call('HLEN', base .. ':c'),
        redis.call('ZRANGE', base .. ':o', 0, -1), redis.call('HGETALL', base .. ':n')}
"#;

/// ARGV: prefix, node, topic, conn → connections of the user left (0: it was the last), or -1
/// when the connection was not recorded.
const LEAVE: &str = r#"
local e, left = drop(ARGV[1], ARGV[2], ARGV[3], ARGV[2] .. ':' .. ARGV[4])
return left
"#;

/// ARGV: prefix, node, topic, then (conn, user key, entry, user JSON) per connection: the
/// node's records in the topic become exactly these.
const RESTORE: &str = r#"
local P, node, topic = ARGV[1], ARGV[2], ARGV[3]
local base = P .. 'p:' .. topic
local want = {}
for i = 4, #ARGV, 4 do want[node .. ':' .. ARGV[i]] = true end
for _, field in ipairs(redis.call('HKEYS', base .. ':c')) do
  if string.sub(field, 1, #node + 1) == node .. ':' and not want[field] then
    drop(P, node, topic, field)
  end
end
for i = 4, #ARGV, 4 do add(P, node, topic, ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]) end
return 0
"#;

/// ARGV: prefix, dead node → flat (topic, farewell) pairs to announce; empty when the node
/// is alive after all or another node claimed it first.
const REAP: &str = r#"
local P, dead = ARGV[1], ARGV[2]
if redis.call('EXISTS', P .. 'node:' .. dead .. ':alive') == 1 then return {} end
if redis.call('ZREM', P .. 'nodes', dead) == 0 then return {} end
local out = {}
for _, topic in ipairs(redis.call('HKEYS', P .. 'node:' .. dead .. ':topics')) do
  for _, field in ipairs(redis.call('HKEYS', P .. 'p:' .. topic .. ':c')) do
    if string.sub(field, 1, #dead + 1) == dead .. ':' then
      local e, left = drop(P, dead, topic, field)
      if e and e.f and (e.a or left == 0) then
        table.insert(out, topic)
        table.insert(out, e.f)
      end
    end
  end
end
redis.call('DEL', P .. 'node:' .. dead .. ':topics')
return out
"#;

/// A connection's record.
#[derive(Serialize, Deserialize)]
struct Entry<'a> {
    /// User key.
    k: &'a str,
    /// Farewell body.
    #[serde(skip_serializing_if = "Option::is_none")]
    f: Option<&'a str>,
    /// Whether the farewell is for every connection, not only the last.
    a: bool,
}

/// A user's public part.
#[derive(Serialize, Deserialize)]
struct StoredUser {
    i: Option<i64>,
    n: String,
}

struct Scripts {
    join: redis::Script,
    leave: redis::Script,
    restore: redis::Script,
    reap: redis::Script,
}

struct Inner {
    client: redis::Client,
    node: NodeId,
    /// `{REDIS_PREFIX}hub:`.
    prefix: String,
    ttl: Duration,
    conn: Mutex<Option<redis::aio::MultiplexedConnection>>,
    /// No new connection is attempted before this, after a failure: calls then fail at once
    /// instead of each waiting for a connect that will not come.
    retry_at: Mutex<Instant>,
    scripts: Scripts,
    inbox: OnceLock<RelayInbox>,
    metrics: Arc<Metrics>,
}

/// The Redis store behind [`SharedPresence`], with the node heartbeat and the reaper.
#[derive(Clone)]
pub struct RedisPresence {
    inner: Arc<Inner>,
}

impl RedisPresence {
    /// Starts the heartbeat and reaper of node `node` (the relay's id); `ttl` is how long a
    /// silent node counts as alive.
    pub fn start(
        client: redis::Client,
        redis_prefix: &str,
        node: NodeId,
        ttl: Duration,
        metrics: Arc<Metrics>,
    ) -> RedisPresence {
        let script = |body: &str| redis::Script::new(&format!("{PRELUDE}{body}"));
        let presence = RedisPresence {
            inner: Arc::new(Inner {
                client,
                node,
                prefix: format!("{redis_prefix}hub:"),
                ttl,
                conn: Mutex::new(None),
                retry_at: Mutex::new(Instant::now()),
                scripts: Scripts {
                    join: script(JOIN),
                    leave: script(LEAVE),
                    restore: script(RESTORE),
                    reap: script(REAP),
                },
                inbox: OnceLock::new(),
                metrics,
            }),
        };
        // On the node's main thread, like the registry it feeds: it wakes a few times per TTL.
        actix_web::rt::spawn(presence.clone().keep_alive());
        presence
    }

    /// Where farewells of dead nodes' members go (the registry).
    pub fn attach(&self, inbox: RelayInbox) {
        let _ = self.inner.inbox.set(inbox);
    }

    /// Heartbeat and reaper for as long as the node runs. Shutdown does not stop them: the
    /// node's sessions leave one by one while it shuts down, each removing its own record, and
    /// a node declared dead meanwhile would have its members announced gone twice.
    async fn keep_alive(self) {
        let mut beat = tokio::time::interval(self.inner.ttl / 3);
        let mut reap = tokio::time::interval(self.inner.ttl / 2);
        loop {
            tokio::select! {
                _ = beat.tick() => {
                    if let Err(e) = self.heartbeat().await {
                        log::debug!("presence: heartbeat failed: {e}");
                    }
                }
                _ = reap.tick() => {
                    if let Err(e) = self.reap().await {
                        log::debug!("presence: reaper failed: {e}");
                    }
                }
            }
        }
    }

    fn alive_key(&self, node: NodeId) -> String {
        format!("{}node:{}:alive", self.inner.prefix, node.hex())
    }

    async fn heartbeat(&self) -> Result<(), PresenceError> {
        let inner = &self.inner;
        let mut conn = self.conn().await?;
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(self.alive_key(inner.node))
            .arg(1)
            .arg("PX")
            .arg(inner.ttl.as_millis() as u64)
            .ignore()
            .cmd("ZADD")
            .arg(format!("{}nodes", inner.prefix))
            .arg(chrono::Utc::now().timestamp_millis())
            .arg(inner.node.hex())
            .ignore();
        self.call(pipe.query_async::<()>(&mut conn)).await
    }

    /// Claims nodes whose heartbeat stopped and announces their members' departures.
    async fn reap(&self) -> Result<(), PresenceError> {
        let inner = &self.inner;
        let mut conn = self.conn().await?;
        let nodes: Vec<String> = self
            .call(
                redis::cmd("ZRANGE")
                    .arg(format!("{}nodes", inner.prefix))
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut conn),
            )
            .await?;
        let me = inner.node.hex();
        for dead in nodes.iter().filter(|n| **n != me) {
            let mut invocation = inner.scripts.reap.prepare_invoke();
            invocation.arg(&inner.prefix).arg(dead);
            let farewells: Vec<String> = self.call(invocation.invoke_async(&mut conn)).await?;
            if farewells.is_empty() {
                continue;
            }
            log::warn!(
                "presence: node {dead} stopped answering; announcing {} departures",
                farewells.len() / 2
            );
            let Some(inbox) = inner.inbox.get() else {
                continue;
            };
            for pair in farewells.chunks_exact(2) {
                let Some(topic) = Topic::parse(&pair[0]) else {
                    continue;
                };
                let orphaned = Orphaned {
                    topic,
                    body: pair[1].clone().into(),
                };
                if inbox.orphaned.try_send(orphaned).is_err() {
                    inner.metrics.queue_full("registry");
                }
            }
        }
        Ok(())
    }

    /// A connection to Redis, reused across calls.
    async fn conn(&self) -> Result<redis::aio::MultiplexedConnection, PresenceError> {
        let inner = &self.inner;
        if let Some(conn) = inner.conn.lock().expect("presence lock").clone() {
            return Ok(conn);
        }
        if Instant::now() < *inner.retry_at.lock().expect("presence lock") {
            return Err(PresenceError::Unexpected("redis unreachable".into()));
        }
        match connect(&inner.client).await {
            Ok(conn) => {
                *inner.conn.lock().expect("presence lock") = Some(conn.clone());
                Ok(conn)
            }
            Err(e) => {
                *inner.retry_at.lock().expect("presence lock") =
                    Instant::now() + Duration::from_millis(250);
                Err(e.into())
            }
        }
    }

    /// Runs a call with the timeout; a failure drops the connection, so the next call opens
    /// a new one.
    async fn call<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, PresenceError> {
        let result = match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => PresenceError::Store(e),
            Err(_) => PresenceError::Timeout,
        };
        *self.inner.conn.lock().expect("presence lock") = None;
        Err(result)
    }
}

/// The four values the scripts store for a connection.
fn record(member: &PresenceMember) -> [String; 4] {
    let entry = Entry {
        k: &member.user.key,
        f: member.farewell.as_ref().map(|(body, _)| &**body),
        a: member.farewell.as_ref().is_some_and(|(_, every)| *every),
    };
    let user = StoredUser {
        i: member.user.id,
        n: member.user.name.to_string(),
    };
    [
        member.conn.to_string(),
        member.user.key.to_string(),
        serde_json::to_string(&entry).expect("plain struct"),
        serde_json::to_string(&user).expect("plain struct"),
    ]
}

/// The users of a JOIN answer, in arrival order.
fn users(order: Vec<String>, names: Vec<String>) -> Result<Vec<UserRef>, PresenceError> {
    let mut by_key = std::collections::HashMap::new();
    for pair in names.chunks_exact(2) {
        let user: StoredUser = serde_json::from_str(&pair[1])
            .map_err(|e| PresenceError::Unexpected(format!("user record: {e}")))?;
        by_key.insert(pair[0].as_str(), user);
    }
    Ok(order
        .iter()
        .filter_map(|key| {
            let user = by_key.get(key.as_str())?;
            Some(UserRef {
                key: key.as_str().into(),
                id: user.i,
                name: user.n.as_str().into(),
            })
        })
        .collect())
}

impl RedisPresence {
    /// Runs one of the scripts for `topic` of this node, with `args` after the three every
    /// script takes (prefix, node, topic).
    async fn script<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        topic: &Topic,
        args: impl IntoIterator<Item = String>,
    ) -> Result<T, PresenceError> {
        let mut conn = self.conn().await?;
        let mut invocation = script.prepare_invoke();
        invocation
            .arg(&self.inner.prefix)
            .arg(self.inner.node.hex())
            .arg(topic.as_str());
        for arg in args {
            invocation.arg(arg);
        }
        self.call(invocation.invoke_async(&mut conn)).await
    }
}

impl SharedPresence for RedisPresence {
    fn join(
        &self,
        topic: &Topic,
        member: PresenceMember,
    ) -> BoxFuture<'static, Result<Present, PresenceError>> {
        let (this, topic) = (self.clone(), topic.clone());
        async move {
            let script = &this.inner.scripts.join;
            let (first, connections, order, names): (i64, usize, Vec<String>, Vec<String>) =
                this.script(script, &topic, record(&member)).await?;
            Ok(Present {
                first: first == 1,
                users: users(order, names)?,
                connections,
            })
        }
        .boxed()
    }

    fn leave(
        &self,
        topic: &Topic,
        conn: u64,
    ) -> BoxFuture<'static, Result<Option<bool>, PresenceError>> {
        let (this, topic) = (self.clone(), topic.clone());
        async move {
            let script = &this.inner.scripts.leave;
            let left: i64 = this.script(script, &topic, [conn.to_string()]).await?;
            Ok((left >= 0).then_some(left == 0))
        }
        .boxed()
    }

    fn restore(
        &self,
        topic: &Topic,
        members: Vec<PresenceMember>,
    ) -> BoxFuture<'static, Result<(), PresenceError>> {
        let (this, topic) = (self.clone(), topic.clone());
        async move {
            let script = &this.inner.scripts.restore;
            let args = members.iter().flat_map(record);
            let _: i64 = this.script(script, &topic, args).await?;
            Ok(())
        }
        .boxed()
    }
}
