//! Which background work an asset needs. Each kind of work is a job kind in
//! the queue; `jobs` registers one handler per kind. The plan lives here so
//! that the lifecycle can enqueue work in the same transaction as the rows it
//! is about without knowing how the work is done.

use std::time::Duration;

use assetd_queue::{Job, NewJob};
use serde::{Deserialize, Serialize};

use crate::domain::{AssetId, AssetStatus, Step};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Probe a stored file that was too large to probe within its upload.
    Probe,
    /// Download a URL's file that was too large (or of unknown size) to fetch within the request.
    Fetch,
    Thumbnail,
    Hls,
    /// Remove a deleted asset's files: enqueued in the transaction that
    /// deletes its row, so that no file outlives its row even if the node
    /// dies right after the commit.
    Purge,
    /// Assemble a multipart upload whose every chunk was reported, then probe it.
    Assemble,
    /// End a multipart upload session at its expiry: enqueued, delayed, with
    /// the session; if it is still active then, its asset fails and its
    /// chunks go.
    ExpireUpload,
}

impl Work {
    /// The job kind in the queue.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Probe => "probe",
            Self::Fetch => "fetch",
            Self::Thumbnail => "thumbnail",
            Self::Hls => "hls",
            Self::Purge => "purge",
            Self::Assemble => "assemble",
            Self::ExpireUpload => "expire_upload",
        }
    }

    /// Every kind of work.
    pub const ALL: [Self; 7] = [
        Self::Probe,
        Self::Fetch,
        Self::Thumbnail,
        Self::Hls,
        Self::Purge,
        Self::Assemble,
        Self::ExpireUpload,
    ];

    /// The work a job kind stands for; None for a kind this version does not know.
    pub fn from_kind(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|work| work.kind() == kind)
    }

    pub fn for_step(step: Step) -> Self {
        match step {
            Step::Thumbnail => Self::Thumbnail,
            Step::Hls => Self::Hls,
        }
    }

    /// This work for `asset`, to enqueue with the asset's row.
    pub fn job(self, asset: AssetId, max_attempts: u32) -> NewJob {
        self.job_after(asset, max_attempts, Duration::ZERO)
    }

    /// This work for `asset`, to run once `delay` has passed.
    pub fn job_after(self, asset: AssetId, max_attempts: u32, delay: Duration) -> NewJob {
        NewJob {
            kind: self.kind().to_string(),
            payload: serde_json::to_string(&AssetPayload {
                asset_id: asset.as_string(),
            })
            .expect("a payload always serialises"),
            resource: Some(asset.as_string()),
            max_attempts,
            delay,
        }
    }
}

/// The kind of the jobs that deliver webhook events: not asset work (a
/// delete must not cancel the delivery of its own event).
pub const DELIVERY_KIND: &str = "webhook";

/// How long a delivery is tried: at least a day.
const DELIVERY_SPAN: Duration = Duration::from_secs(24 * 3600);

/// One event for one endpoint.
#[derive(Debug, Serialize, Deserialize)]
pub struct Delivery {
    pub event_id: String,
    pub webhook_id: String,
}

/// The job that delivers an event to an endpoint, with enough attempts that
/// the queue's backoff (doubling from its first delay up to its cap) spans
/// [`DELIVERY_SPAN`].
pub fn delivery_job(event: &str, webhook: &str, policy: &assetd_queue::RetryPolicy) -> NewJob {
    let mut attempts = 1u32;
    let (mut delay, mut spanned) = (
        policy.min_delay.max(Duration::from_millis(1)),
        Duration::ZERO,
    );
    while spanned < DELIVERY_SPAN {
        spanned += delay;
        delay = (delay * 2).min(policy.max_delay.max(policy.min_delay));
        attempts += 1;
    }
    NewJob {
        kind: DELIVERY_KIND.to_string(),
        payload: serde_json::to_string(&Delivery {
            event_id: event.to_string(),
            webhook_id: webhook.to_string(),
        })
        .expect("a payload always serialises"),
        resource: Some(format!("webhook:{event}")),
        max_attempts: attempts,
        delay: Duration::ZERO,
    }
}

/// The delivery a claimed job is for; None for a payload this version cannot read.
pub fn delivery_of(job: &Job) -> Option<Delivery> {
    serde_json::from_str(&job.payload).ok()
}

/// Every job is about one asset.
#[derive(Debug, Serialize, Deserialize)]
struct AssetPayload {
    asset_id: String,
}

/// The asset a claimed job is about; None for a payload this version cannot read.
pub fn asset_of(job: &Job) -> Option<AssetId> {
    let payload: AssetPayload = serde_json::from_str(&job.payload).ok()?;
    AssetId::parse(&payload.asset_id).ok()
}

/// The work to enqueue with a new or updated row: a `processing` asset waits
/// for `first` (its probe or its download); a ready one for the steps asked
/// for; a failed one for nothing.
pub fn work_for(status: AssetStatus, first: Work, steps: &[Step]) -> Vec<Work> {
    match status {
        AssetStatus::Processing => vec![first],
        AssetStatus::Ready => steps.iter().map(|s| Work::for_step(*s)).collect(),
        AssetStatus::Failed => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_is_tried_for_at_least_a_day_and_names_its_event() {
        let policy = assetd_queue::RetryPolicy {
            min_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(600),
        };
        let job = delivery_job("evt_1", "wh_1", &policy);
        let spanned: Duration = (1..job.max_attempts)
            .map(|attempt| {
                (policy.min_delay * 2u32.saturating_pow(attempt - 1)).min(policy.max_delay)
            })
            .sum();
        assert!(
            spanned >= DELIVERY_SPAN,
            "{spanned:?} over {} attempts",
            job.max_attempts
        );
        assert!(job.max_attempts < 200, "{}", job.max_attempts);
        assert_eq!(job.kind, DELIVERY_KIND);
        // Not the asset's resource: deleting the asset must not cancel its event.
        assert_eq!(job.resource.as_deref(), Some("webhook:evt_1"));
        let delivery: Delivery = serde_json::from_str(&job.payload).unwrap();
        assert_eq!(
            (delivery.event_id.as_str(), delivery.webhook_id.as_str()),
            ("evt_1", "wh_1")
        );
    }

    #[test]
    fn jobs_carry_their_asset() {
        let id = AssetId::new();
        let new = Work::Hls.job(id, 3);
        assert_eq!(new.kind, "hls");
        assert_eq!(new.resource.as_deref(), Some(id.as_string().as_str()));
        let claimed = Job {
            id: 1,
            kind: new.kind,
            payload: new.payload,
            resource: new.resource,
            attempt: 1,
            max_attempts: 3,
            interruptions: 0,
            lease_owner: "x".into(),
        };
        assert_eq!(asset_of(&claimed), Some(id));
        assert_eq!(Work::from_kind("hls"), Some(Work::Hls));
        assert_eq!(Work::from_kind("purge"), Some(Work::Purge));
        assert_eq!(Work::from_kind("transcribe"), None);
    }

    #[test]
    fn only_ready_assets_get_their_steps() {
        let steps = [Step::Thumbnail, Step::Hls];
        assert_eq!(
            work_for(AssetStatus::Ready, Work::Probe, &steps),
            [Work::Thumbnail, Work::Hls]
        );
        assert_eq!(
            work_for(AssetStatus::Processing, Work::Fetch, &steps),
            [Work::Fetch]
        );
        assert!(work_for(AssetStatus::Failed, Work::Probe, &steps).is_empty());
    }
}
