-- Why an HLS or thumbnail step ended in `error`, for the client and the operator.
ALTER TABLE assets ADD COLUMN hls_error TEXT;
ALTER TABLE assets ADD COLUMN thumbnail_error TEXT;
