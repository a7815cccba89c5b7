"""crmdesk: a desktop browser and editor for CRM records over REST APIs."""

__version__ = "0.1.0"
