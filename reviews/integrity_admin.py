"""Read-only admin for the integrity log's checkpoints and the evidence spool's backlog.

Checkpoints hold only sizes, hashes and signatures; who may list them is the model
permission (`reviews.view_integritycheckpoint`, superusers by default). Spooled frames
are scoped to the courses the user staffs, like the rest of the review history.
"""

from __future__ import annotations

from django.contrib import admin

from reviews.admin import ReadOnlyHistoryAdmin
from reviews.integrity_models import IntegrityCheckpoint
from reviews.storage_models import SpooledEvidence


@admin.register(IntegrityCheckpoint)
class IntegrityCheckpointAdmin(admin.ModelAdmin):
    list_display = ["tree_size", "timestamp", "key_id", "root_hex"]
    ordering = ["-tree_size", "-id"]
    readonly_fields = ["origin", "tree_size", "root_hex", "timestamp", "key_id", "created_at"]
    exclude = ["root_hash", "signature"]

    @admin.display(description="root hash")
    def root_hex(self, obj: IntegrityCheckpoint) -> str:
        return bytes(obj.root_hash).hex()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SpooledEvidence)
class SpooledEvidenceAdmin(ReadOnlyHistoryAdmin):
    list_display = ["session", "seq", "captured_at", "attempts", "last_error", "created_at"]
    list_select_related = ["session__exam"]
    exclude = ["spool_file"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "spool_file"]
