"""The media function: images put in the media bucket, uploaded to the platform once."""
