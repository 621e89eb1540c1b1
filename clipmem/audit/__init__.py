"""The dataset audit: rank every pair of a user's data by how suspicious it is (docs/audit.md)."""

from clipmem.audit.config import AuditConfig
from clipmem.audit.writer import AuditInputs, AuditRequest, write_audit

__all__ = ["AuditConfig", "AuditInputs", "AuditRequest", "write_audit"]
