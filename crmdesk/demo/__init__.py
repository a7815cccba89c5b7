"""The embedded demo CRM: one SQLite store with sample data, served on 127.0.0.1.

* :mod:`crmdesk.demo.catalog` — the neutral catalog (modules, fields, options, links).
* :mod:`crmdesk.demo.store` — :class:`~crmdesk.demo.store.Store`, the typed query API
  every dialect app uses (list / count / get / insert / update / delete / related / link).
* :mod:`crmdesk.demo.data` — the deterministic data set (bump ``DATASET_VERSION`` on change).
* :mod:`crmdesk.demo.server` — :class:`~crmdesk.demo.server.DemoServer` (uvicorn in a
  thread, one prefix per dialect, ``DIALECT_APPS`` registration) and its credentials.
* :mod:`crmdesk.demo.faults` — the fault injection switchboard (``server.faults``).
* :mod:`crmdesk.demo.suitecrm` — SuiteCRM 7.14 API v8 (plus the ``crmdesk/vardefs``
  demo extension); the other dialects sit beside it.
"""
