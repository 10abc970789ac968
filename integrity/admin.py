"""Read-only admin for the integrity log's checkpoints.

Checkpoints hold only sizes, hashes and signatures; who may list them is the model
permission (`integrity.view_integritycheckpoint`, superusers by default).
"""

from __future__ import annotations

from django.contrib import admin

from integrity.models import IntegrityCheckpoint


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
