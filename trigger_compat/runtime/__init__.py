"""The worker runtime: fetch loop, scheduler, heartbeats, maintenance."""
