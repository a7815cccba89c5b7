"""``python -m crmdesk``."""

from crmdesk.app import main

raise SystemExit(main())
