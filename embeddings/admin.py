from __future__ import annotations

from django.contrib import admin
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest

from catalog.admin import ArtworkAdmin
from catalog.models import Artwork
from embeddings.indexing import enqueue_embedding
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel


class EmbeddingStatusFilter(admin.SimpleListFilter):
    """Embedding status under the active model."""

    title = "embedding status (active model)"
    parameter_name = "embedding"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Artwork]) -> list[tuple[str, str]]:
        return [("embedded", "Embedded"), ("failed", "Failed"), ("pending", "Pending"), ("no_image", "No image")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Artwork]) -> QuerySet[Artwork]:
        model = EmbeddingModel.active()
        value = self.value()
        if value is None:
            return queryset
        if value == "no_image":
            return queryset.filter(image_id="")
        if model is None:
            return queryset.none()
        embedded = Exists(ArtworkEmbedding.objects.filter(model=model, artwork=OuterRef("pk")))
        failed = Exists(EmbeddingFailure.objects.filter(model=model, artwork=OuterRef("pk")))
        with_image = queryset.exclude(image_id="")
        if value == "embedded":
            return with_image.filter(embedded)
        if value == "failed":
            return with_image.filter(failed).exclude(embedded)
        return with_image.exclude(embedded).exclude(failed)


class EmbeddingFailureInline(admin.TabularInline[EmbeddingFailure, Artwork]):
    model = EmbeddingFailure
    extra = 0
    can_delete = False
    readonly_fields = ["model", "image_id", "reason", "attempts", "failed_at"]

    def has_add_permission(self, request: HttpRequest, obj: Artwork | None = None) -> bool:
        return False


class ArtworkWithEmbeddingsAdmin(ArtworkAdmin):
    list_filter = [EmbeddingStatusFilter, *ArtworkAdmin.list_filter]
    actions = [*ArtworkAdmin.actions, "reembed"]
    inlines = [EmbeddingFailureInline]

    @admin.action(description="Re-embed with the active model")
    def reembed(self, request: HttpRequest, queryset: QuerySet[Artwork]) -> None:
        model = EmbeddingModel.active()
        if model is None:
            self.message_user(request, "No active model.", level="error")
            return
        ids = list(queryset.exclude(image_id="").values_list("pk", flat=True))
        tasks = enqueue_embedding(ids, model)
        self.message_user(request, f"Queued {len(ids)} artworks in {tasks} tasks for {model.name}.")


# The catalog registers its own admin; this one adds what only the embeddings app knows.
admin.site.unregister(Artwork)
admin.site.register(Artwork, ArtworkWithEmbeddingsAdmin)


@admin.register(EmbeddingModel)
class EmbeddingModelAdmin(admin.ModelAdmin[EmbeddingModel]):
    list_display = ["name", "architecture", "pretrained", "dimension", "is_active", "created_at"]
    readonly_fields = ["is_active", "dimension", "created_at"]
    actions = ["activate"]

    @admin.action(description="Make the selected model the active one")
    def activate(self, request: HttpRequest, queryset: QuerySet[EmbeddingModel]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one model.", level="error")
            return
        model = queryset.get()
        model.activate()
        self.message_user(request, f"{model.name} is now the active model.")


@admin.register(EmbeddingFailure)
class EmbeddingFailureAdmin(admin.ModelAdmin[EmbeddingFailure]):
    list_display = ["artwork", "model", "reason", "attempts", "failed_at"]
    list_filter = ["model"]
    search_fields = ["reason", "artwork__title"]
    readonly_fields = ["artwork", "model", "image_id", "reason", "attempts", "failed_at"]
