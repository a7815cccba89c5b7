"""Admin views: metadata inspector, compare, picklists, access and the API console.

Each view is a QWidget that takes a :class:`~crmdesk.core.backend.Backend` and the app's
:class:`~crmdesk.ui.tasks.TaskRunner`; the ``open_*`` functions show one as a window.
"""
