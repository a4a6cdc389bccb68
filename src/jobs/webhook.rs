//! Delivers one event to one endpoint: a signed POST, each attempt recorded;
//! anything but a 2xx answer is tried again with the queue's backoff, for at
//! least a day (`assets::plan::delivery_job`).

use std::time::{Duration, Instant};

use assetd_queue::{Handler, Job, Outcome};
use hmac::{Hmac, Mac};
use serde_json::value::RawValue;
use sha2::Sha256;

use crate::app::AppState;
use crate::assets::delivery_of;
use crate::db;
use crate::domain::Timestamp;
use crate::signing::now_secs;

/// How long one attempt may take, from connecting to the answer's head.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Deliver {
    pub app: AppState,
}

impl Handler for Deliver {
    async fn run(&self, job: &Job) -> Outcome {
        let Some(delivery) = delivery_of(job) else {
            return Outcome::Fail("The job's payload names no delivery.".into());
        };
        super::retry_on_error(
            self.deliver(&delivery.event_id, &delivery.webhook_id, job.attempt)
                .await,
        )
    }

    async fn failed(&self, job: &Job, error: &str) {
        tracing::warn!(job = job.id, error = %error, "a webhook delivery was given up");
    }
}

impl Deliver {
    async fn deliver(
        &self,
        event_id: &str,
        webhook_id: &str,
        attempt: u32,
    ) -> anyhow::Result<Outcome> {
        let app = &self.app;
        // An endpoint removed since, or an event pruned: nothing to deliver.
        let Some(webhook) = db::webhooks::find_any(&app.pool, webhook_id).await? else {
            return Ok(Outcome::Done);
        };
        let Some(event) = db::webhooks::find_event(&app.pool, event_id).await? else {
            return Ok(Outcome::Done);
        };
        let body = event_body(&event)?;
        let timestamp = now_secs();
        let signature = format!(
            "t={timestamp},v1={}",
            sign(&webhook.secret, timestamp, &body)
        );
        let started = Instant::now();
        let answer = app
            .fetcher
            .post_json(
                &webhook.url,
                body,
                &[("TL-Signature", signature)],
                ATTEMPT_TIMEOUT,
            )
            .await;
        let took = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (status, error) = match &answer {
            Ok(status) if (200..300).contains(status) => (Some(*status), None),
            Ok(status) => (
                Some(*status),
                Some(format!("the receiver answered {status}")),
            ),
            Err(e) => (None, Some(e.to_string())),
        };
        db::webhooks::insert_delivery(
            &app.pool,
            webhook_id,
            event_id,
            attempt,
            status,
            error.as_deref(),
            took,
        )
        .await?;
        Ok(match error {
            None => Outcome::Done,
            Some(error) => Outcome::Retry(error),
        })
    }
}

/// The body of an event, the same on every attempt: the platform's
/// notification schema, `{"id", "created_at", "type", "data"}`.
fn event_body(event: &db::webhooks::EventRow) -> anyhow::Result<String> {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        id: &'a str,
        created_at: Timestamp,
        #[serde(rename = "type")]
        event_type: &'a str,
        data: &'a RawValue,
    }
    let data: Box<RawValue> = RawValue::from_string(event.data.clone())?;
    Ok(serde_json::to_string(&Body {
        id: &event.id,
        created_at: Timestamp::from_millis(event.created_at),
        event_type: &event.event_type,
        data: &data,
    })?)
}

/// `TL-Signature`'s `v1`: hex HMAC-SHA256 of `<t>.<body>` with the endpoint's secret.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_timestamp_and_the_body() {
        // echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            sign("whsec_test", 1_700_000_000, r#"{"a":1}"#),
            "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }
}
