//! The probe in the platform's `technical_metadata` field names.

use assetd_media::Probe;
use serde_json::{Map, Value};

/// The probe in the platform's `technical_metadata` field names; absent values are left out.
pub fn technical_metadata(probe: &Probe) -> Value {
    let mut m = Map::new();
    let mut put = |key: &str, value: Value| {
        if !value.is_null() {
            m.insert(key.to_string(), value);
        }
    };
    put("file_size_bytes", probe.size_bytes.into());
    put("file_mime_type", probe.mime_type.clone().into());
    put(
        "file_container_format",
        probe.container_format.clone().into(),
    );

    if let Some(image) = &probe.image {
        put("image_width", image.width.into());
        put("image_height", image.height.into());
        put("image_format", image.format.clone().into());
        put("image_orientation", image.orientation.into());
        put("has_alpha", image.has_alpha.into());
        put("is_animated", image.is_animated.into());
        put(
            "storage_aspect_ratio",
            aspect_ratio(image.width, image.height),
        );
        return Value::Object(m);
    }

    if let Some(v) = probe.video_streams.first() {
        put("video_codec", v.codec.clone().into());
        put("video_width", v.width.into());
        put("video_height", v.height.into());
        put("video_fps", v.fps.or(v.avg_fps).into());
        put("video_duration_seconds", v.duration_seconds.into());
        put("video_bitrate_bps", v.bitrate_bps.into());
        put("storage_aspect_ratio", aspect_ratio(v.width, v.height));
    }
    if let Some(a) = probe.audio_streams.first() {
        put("audio_codec", a.codec.clone().into());
        put("audio_sample_rate", a.sample_rate.into());
        put("audio_channels", a.channels.into());
        put("audio_duration_seconds", a.duration_seconds.into());
    }
    put("has_audio", (!probe.audio_streams.is_empty()).into());
    put(
        "is_hdr",
        probe.video_streams.iter().any(|v| v.is_hdr).into(),
    );
    put("total_video_streams", probe.video_streams.len().into());
    put("total_audio_streams", probe.audio_streams.len().into());
    put(
        "video_streams",
        probe
            .video_streams
            .iter()
            .map(|v| {
                compact(serde_json::json!({
                    "index": v.index, "codec": v.codec, "width": v.width, "height": v.height,
                    "fps": v.fps, "avg_fps": v.avg_fps, "duration_seconds": v.duration_seconds,
                    "bitrate_bps": v.bitrate_bps, "rotation": v.rotation, "pixel_format": v.pixel_format,
                    "bit_depth": v.bit_depth, "color_space": v.color_space,
                    "color_transfer": v.color_transfer, "color_primaries": v.color_primaries,
                }))
            })
            .collect(),
    );
    put(
        "audio_streams",
        probe
            .audio_streams
            .iter()
            .map(|a| {
                compact(serde_json::json!({
                    "index": a.index, "codec": a.codec, "sample_rate": a.sample_rate,
                    "channels": a.channels, "channel_layout": a.channel_layout,
                    "bitrate_bps": a.bitrate_bps, "language": a.language,
                    "duration_seconds": a.duration_seconds,
                }))
            })
            .collect(),
    );
    Value::Object(m)
}

/// Drops the nulls of a JSON object: the wire leaves absent values out.
fn compact(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        other => other,
    }
}

/// Width over height, as the platform reports it (a number, e.g. 1.7778 for 16:9).
fn aspect_ratio(width: u32, height: u32) -> Value {
    if width == 0 || height == 0 {
        return Value::Null;
    }
    let ratio = f64::from(width) / f64::from(height);
    ((ratio * 10_000.0).round() / 10_000.0).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aspect_ratios_are_numbers() {
        assert_eq!(aspect_ratio(1920, 1080), 1.7778);
        assert_eq!(aspect_ratio(320, 240), 1.3333);
        assert_eq!(aspect_ratio(0, 0), Value::Null);
    }
}
