-- Whether the API key :key_id is live.
SELECT EXISTS (SELECT 1 {live_key}) AS live
