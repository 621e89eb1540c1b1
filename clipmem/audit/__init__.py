"""The dataset audit: rank every pair of a user's data by how suspicious it is (docs/audit.md)."""

from clipmem._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "AuditConfig": "config",
    "AuditInputs": "writer",
    "AuditRequest": "writer",
    "write_audit": "writer",
})
__all__ = sorted(__dir__())
