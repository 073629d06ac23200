"""The machinery every part runs on, nothing of the paper: devices, seeds and processes
(``runtime``), CPU threads and the allocator (``cpu``), mixed precision (``precision``), atomic
file writes (``atomic``) and typed config values (``typed``)."""
