//! assetd: a self-hosted media asset server speaking the TwelveLabs v1.3 Assets API.

pub mod app;
pub mod assets;
pub mod config;
pub mod db;
pub mod domain;
pub mod fetch;
pub mod fsck;
pub mod http;
pub mod jobs;
pub mod keys;
pub mod media_child;
pub mod signing;
pub mod startup;
pub mod stats;
pub mod storage;
pub mod telemetry;
pub mod webhooks;
