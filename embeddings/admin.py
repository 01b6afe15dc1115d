from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest

from catalog.admin import ArtworkAdmin
from catalog.models import Artwork
from core.admin_extensions import ExtensibleModelAdmin
from embeddings.activation.errors import ActivationError
from embeddings.activation.pruning import prune_vectors
from embeddings.activation.service import request_activation
from embeddings.activation.status import activation_status
from embeddings.indexing import enqueue_embedding, index_counts
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


@admin.action(description="Re-embed with the active model", permissions=["change"])
def reembed(model_admin: admin.ModelAdmin[Artwork], request: HttpRequest, queryset: QuerySet[Artwork]) -> None:
    model = EmbeddingModel.active()
    if model is None:
        model_admin.message_user(request, "No active model.", level="error")
        return
    ids = list(queryset.exclude(image_id="").values_list("pk", flat=True))
    tasks = enqueue_embedding(ids, model, force=True)
    model_admin.message_user(request, f"Queued {len(ids)} artworks in {tasks} tasks for {model.name}.")


# The catalog's artwork admin, with what only the embeddings app knows.
ArtworkAdmin.extend(list_filter=[EmbeddingStatusFilter], inlines=[EmbeddingFailureInline], actions=[reembed])


@admin.register(EmbeddingModel)
class EmbeddingModelAdmin(ExtensibleModelAdmin):
    """Models, their coverage and activation progress. Activation runs on the embed workers: it embeds
    every artwork first, passes the evaluation gate (unless forced) and switches only when complete."""

    list_display = ["name", "architecture", "dimension", "is_active", "coverage", "activation", "created_at"]
    readonly_fields = ["is_active", "dimension", "created_at", "coverage", "activation"]
    actions = ["activate", "activate_without_gate", "prune_vectors"]

    def get_readonly_fields(self, request: HttpRequest, obj: EmbeddingModel | None = None) -> list[str]:
        # Changing the weights of a model that has vectors would mix two models under one name.
        fixed = ["name", "architecture", "pretrained"] if obj is not None else []
        return [*fixed, *self.readonly_fields]

    def save_model(self, request: HttpRequest, obj: EmbeddingModel, form: Any, change: bool) -> None:
        if not change:
            from embeddings.encoders.clip import embedding_dimension

            obj.dimension = embedding_dimension(obj.architecture)
        super().save_model(request, obj, form, change)

    @admin.display(description="coverage")
    def coverage(self, obj: EmbeddingModel) -> str:
        counts = index_counts(obj)
        return f"{counts.embedded} of {counts.artworks - counts.no_image} embedded, {counts.failed} failed"

    @admin.display(description="activation")
    def activation(self, obj: EmbeddingModel) -> str:
        status = activation_status(obj)
        return status.line() if status is not None else "-"

    def has_activate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("embeddings.activate_embeddingmodel")

    def has_force_activate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("embeddings.force_activate_embeddingmodel")

    def has_prune_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("embeddings.prune_embeddingmodel")

    @admin.action(
        description="Activate: embed everything, check recall against the active model, then switch",
        permissions=["activate"],
    )
    def activate(self, request: HttpRequest, queryset: QuerySet[EmbeddingModel]) -> None:
        self._request_activation(request, queryset, force=False)

    # Its own permission: it serves visitors a model that may have failed its evaluation.
    @admin.action(description="Activate without the evaluation gate (force)", permissions=["force_activate"])
    def activate_without_gate(self, request: HttpRequest, queryset: QuerySet[EmbeddingModel]) -> None:
        self._request_activation(request, queryset, force=True)

    @admin.action(description="Delete the vectors of the selected inactive models", permissions=["prune"])
    def prune_vectors(self, request: HttpRequest, queryset: QuerySet[EmbeddingModel]) -> None:
        for model in queryset:
            try:
                vectors = prune_vectors(model)
            except ActivationError as exc:
                self.message_user(request, str(exc), level="error")
            else:
                self.message_user(request, f"Deleted {vectors} vectors of {model.name}.")

    def _request_activation(self, request: HttpRequest, queryset: QuerySet[EmbeddingModel], *, force: bool) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one model.", level="error")
            return
        model = queryset.get()
        if model.is_active:
            self.message_user(request, f"{model.name} is already the active model.", level="warning")
            return
        try:
            request_activation(model, force=force)
        except ActivationError as exc:
            self.message_user(request, str(exc), level="error")
            return
        self.message_user(
            request,
            f"Activation of {model.name} queued: the active model keeps serving until every artwork is "
            "embedded; progress shows in the activation column.",
        )


@admin.register(EmbeddingFailure)
class EmbeddingFailureAdmin(admin.ModelAdmin[EmbeddingFailure]):
    list_display = ["artwork", "model", "reason", "attempts", "failed_at"]
    list_filter = ["model"]
    search_fields = ["reason", "artwork__title"]
    readonly_fields = ["artwork", "model", "image_id", "reason", "attempts", "failed_at"]
