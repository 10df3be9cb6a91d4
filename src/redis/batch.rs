//! Decisions that arrive together go to Redis together.
//!
//! Each decision's Redis call costs far more CPU — on the client, in the
//! kernel and in Redis — than the GCRA arithmetic it runs. So callers do not
//! call Redis themselves: they queue their ask, and one flush at a time
//! takes everything queued, sends one `EVALSHA` per key with every ask for
//! that key (a pipeline when there are several keys), and hands each caller
//! its answer. While a flush waits for Redis the next batch builds up, so
//! the batch grows with the load: one caller still makes one call per
//! decision, 256 callers make one call per few dozen.
//!
//! Nothing changes in what is decided: the script decides the asks of one
//! key one after another, at one server time, exactly as the same calls
//! made one by one in that order and in the same microsecond would be.
//!
//! The flush runs as a task of its own, so a caller that gives up (its
//! future dropped, its timeout passed) never strands the others; an ask
//! whose caller has gone is not sent. If the runtime running a flush shuts
//! down, the queued callers are answered with an error at once and the
//! next ask starts a new flush.

use super::Answer;
use parking_lot::Mutex;
use std::collections::hash_map::{Entry, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// The most asks one flush sends: Redis runs one script at a time, so a
/// script stays short (a few hundred µs at most).
const MAX_BATCH: usize = 512;

/// A limiter's Redis calls: its script and its queue.
pub(super) struct Batcher {
    redis: super::Redis,
    script: redis::Script,
    /// Emission interval and burst tolerance, in µs.
    t_us: u64,
    tau_us: u64,
    timeout: Duration,
    queue: Mutex<Queue>,
    /// Script calls sent to Redis.
    calls: AtomicU64,
}

#[derive(Default)]
struct Queue {
    asks: Vec<Ask>,
    flushing: bool,
}

struct Ask {
    key: Box<str>,
    n: u32,
    answer: oneshot::Sender<Result<Answer, String>>,
}

impl Batcher {
    pub(super) fn new(redis: super::Redis, t_us: u64, tau_us: u64) -> Self {
        Self {
            redis,
            script: redis::Script::new(include_str!("gcra.lua")),
            t_us,
            tau_us,
            timeout: Duration::from_millis(50),
            queue: Mutex::new(Queue::default()),
            calls: AtomicU64::new(0),
        }
    }

    pub(super) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    pub(super) fn redis(&self) -> &super::Redis {
        &self.redis
    }

    pub(super) fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// `n` calls for `key`, as Redis decides them, within the timeout.
    pub(super) async fn ask(self: &Arc<Self>, key: &str, n: u32) -> Result<Answer, String> {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut queue = self.queue.lock();
            queue.asks.push(Ask {
                key: key.into(),
                n,
                answer,
            });
            !std::mem::replace(&mut queue.flushing, true)
        };
        if start {
            tokio::spawn(Arc::clone(self).flush());
        }
        match tokio::time::timeout(self.timeout, answered).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err("redis: the call was abandoned (its runtime shut down)".to_owned()),
            Err(_) => Err(format!("redis did not answer within {:?}", self.timeout)),
        }
    }

    /// Sends what is queued, batch after batch, until nothing is.
    async fn flush(self: Arc<Self>) {
        let mut flushing = Flushing {
            batcher: &self,
            ended: false,
        };
        loop {
            let batch = {
                let mut queue = self.queue.lock();
                queue.asks.retain(|a| !a.answer.is_closed());
                if queue.asks.is_empty() {
                    queue.flushing = false;
                    flushing.ended = true;
                    return;
                }
                let take = queue.asks.len().min(MAX_BATCH);
                let rest = queue.asks.split_off(take);
                std::mem::replace(&mut queue.asks, rest)
            };
            self.send(batch).await;
        }
    }

    /// One batch: one script call per key, pipelined.
    async fn send(&self, batch: Vec<Ask>) {
        // The asks of each key (by index, the first one's key), in order.
        let mut keys: Vec<Vec<usize>> = Vec::new();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, ask) in batch.iter().enumerate() {
            match seen.entry(&ask.key) {
                Entry::Occupied(k) => keys[*k.get()].push(i),
                Entry::Vacant(k) => {
                    k.insert(keys.len());
                    keys.push(vec![i]);
                }
            }
        }
        drop(seen);
        let mut pipe = redis::pipe();
        for asks in &keys {
            let evalsha = pipe
                .cmd("EVALSHA")
                .arg(self.script.get_hash())
                .arg(1)
                .arg(&*batch[asks[0]].key)
                .arg(self.t_us)
                .arg(self.tau_us);
            for &i in asks {
                evalsha.arg(batch[i].n);
            }
        }
        self.calls.fetch_add(keys.len() as u64, Ordering::Relaxed);
        let answers = match tokio::time::timeout(self.timeout, self.call(&pipe)).await {
            Ok(Ok(answers)) if answers.len() == keys.len() => Ok(answers),
            Ok(Ok(_)) => Err("redis: an answer for each key was expected".to_owned()),
            Ok(Err(e)) => Err(format!("redis: {e}")),
            Err(_) => Err(format!("redis did not answer within {:?}", self.timeout)),
        };
        let answers = match answers {
            Ok(answers) => answers,
            Err(why) => {
                for ask in batch {
                    let _ = ask.answer.send(Err(why.clone()));
                }
                return;
            }
        };
        // Each key's answer: [now, next, admitted₁, retry₁, admitted₂, …] (µs).
        let us = |v: Option<&i64>| v.copied().unwrap_or(0).max(0) as u64;
        let mut batch: Vec<Option<Ask>> = batch.into_iter().map(Some).collect();
        for (asks, answer) in keys.iter().zip(answers) {
            let (now_us, next) = (us(answer.first()), us(answer.get(1)));
            for (j, &i) in asks.iter().enumerate() {
                let Some(ask) = batch[i].take() else { continue };
                let decided = match (answer.get(2 + 2 * j), answer.get(3 + 2 * j)) {
                    (Some(&admitted), Some(&retry)) => Ok(Answer {
                        admitted: admitted == 1,
                        retry_after: Duration::from_micros(retry.max(0) as u64),
                        next: Duration::from_micros(next),
                        now_us,
                    }),
                    _ => Err("redis: the script's answer is short".to_owned()),
                };
                let _ = ask.answer.send(decided);
            }
        }
    }

    /// The pipeline; on `NOSCRIPT` (Redis lost its scripts: a restart, a
    /// `SCRIPT FLUSH`) the script is loaded and the pipeline sent once more.
    /// A `NOSCRIPT` call ran nothing; only a flush landing between two keys
    /// of one pipeline would count the first key's asks twice — stricter,
    /// never looser.
    async fn call(&self, pipe: &redis::Pipeline) -> redis::RedisResult<Vec<Vec<i64>>> {
        let mut conn = self
            .redis
            .connection()
            .await
            .map_err(|e| redis::RedisError::from((redis::ErrorKind::Io, "connect", e)))?;
        match pipe.query_async(&mut conn).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                self.script.load_async(&mut conn).await?;
                pipe.query_async(&mut conn).await
            }
            answer => answer,
        }
    }
}

/// A flush that ends early (its runtime shut down mid-call) answers the
/// queued asks with an error, by dropping them, and lets the next ask
/// start a new flush.
struct Flushing<'a> {
    batcher: &'a Batcher,
    /// Ended as it should: nothing queued, `flushing` already cleared
    /// (under the lock, so no ask can slip in unsent).
    ended: bool,
}

impl Drop for Flushing<'_> {
    fn drop(&mut self) {
        if !self.ended {
            let mut queue = self.batcher.queue.lock();
            queue.asks.clear();
            queue.flushing = false;
        }
    }
}
