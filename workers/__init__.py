"""RQ workers: everything the hub does besides serving HTTP, coordinated through Redis so that
running several worker processes is safe.

- `queues`: queue names, job limits, the worker class (`IntakeWorker`, RQ's SimpleWorker);
- `context`: the process-wide Hub the jobs use (`set_hub`, `get_hub`);
- `relay`: the outbox relay (due outbox rows → RQ jobs);
- `jobs`: the delivery job, its failure callback, the re-drive of deliveries Redis lost;
- `retention`: destruction jobs (R12 pending-guardian purge, old outbox rows);
- `periodic`: periodic jobs declared as data and the tick that schedules them;
- `runner`: the worker process (RQ worker + relay thread, reconnects after Redis outages);
- `cli`: `intake worker [--burst]` and `intake run` (the development hub);
- `logs`: job-aware, masked logging for worker processes.
"""
