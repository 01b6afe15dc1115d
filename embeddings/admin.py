from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from catalog.admin import ArtworkAdmin
from catalog.models import Artwork
from core.admin_extensions import ExtensibleModelAdmin
from embeddings.activation.errors import ActivationError
from embeddings.activation.pruning import prune_vectors
from embeddings.activation.service import request_activation
from embeddings.activation.status import activation_status
from embeddings.indexing import enqueue_embedding, index_counts
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel
from embeddings.registration import RegistrationState, open_registrations, queue_registration
from embeddings.tasks import register_model_task


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


class EmbeddingModelAddForm(forms.ModelForm[EmbeddingModel]):
    """What the admin checks without PyTorch: a free slug for the name, an architecture and weights.
    Whether the weights load (and the dimension) is found out by the worker that registers the model."""

    pretrained = forms.CharField(
        max_length=500,
        help_text="open_clip pretrained tag, a checkpoint path, or artifact:<key> of a stored checkpoint",
    )

    class Meta:
        model = EmbeddingModel
        fields = ["name", "architecture", "pretrained", "notes"]

    def clean_architecture(self) -> str:
        return str(self.cleaned_data["architecture"]).strip()

    def clean_pretrained(self) -> str:
        return str(self.cleaned_data["pretrained"]).strip()


@admin.register(EmbeddingModel)
class EmbeddingModelAdmin(ExtensibleModelAdmin):
    """Models, their coverage and activation progress. Activation runs on the embed workers: it embeds
    every artwork first, passes the evaluation gates (unless forced) and switches only when complete.

    Adding a model queues its registration on an embed worker (web processes have no PyTorch to load
    its weights with): the add view creates no row, and the model list shows the registrations that
    are queued or have failed."""

    add_form = EmbeddingModelAddForm

    list_display = ["name", "architecture", "dimension", "is_active", "coverage", "activation", "created_at"]
    readonly_fields = ["is_active", "dimension", "match_threshold", "created_at", "coverage", "activation"]
    actions = ["activate", "activate_without_gate", "prune_vectors"]

    def get_readonly_fields(self, request: HttpRequest, obj: EmbeddingModel | None = None) -> list[str]:
        # Changing the weights of a model that has vectors would mix two models under one name.
        if obj is None:
            return []
        return ["name", "architecture", "pretrained", *self.readonly_fields]

    def get_fields(self, request: HttpRequest, obj: EmbeddingModel | None = None) -> Any:
        if obj is None:
            return self.add_form.Meta.fields
        return super().get_fields(request, obj)

    def get_form(
        self, request: HttpRequest, obj: EmbeddingModel | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change, **kwargs)

    def get_inlines(self, request: HttpRequest, obj: EmbeddingModel | None) -> Any:
        # What the inlines (from other apps too) hang on is a row, which only the worker creates.
        return [] if obj is None else super().get_inlines(request, obj)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # There is no row to go on editing, nor to add another after, until a worker has registered it.
        context = {"show_save_and_continue": False, "show_save_and_add_another": False, **(extra_context or {})}
        return super().add_view(request, form_url, context)

    def save_model(self, request: HttpRequest, obj: EmbeddingModel, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # Not saved here: the worker creates the row once the weights have loaded.
        name, architecture, pretrained, notes = obj.name, obj.architecture, obj.pretrained, obj.notes
        queue_registration(
            name,
            architecture,
            pretrained,
            notes,
            send=lambda: register_model_task.delay(name, architecture, pretrained, notes),
        )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        if form.instance.pk is not None:
            super().save_related(request, form, formsets, change)

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> LogEntry | None:  # type: ignore[override]
        # A queued registration has no row to point at yet.
        if obj.pk is None:
            return None
        return super().log_addition(request, obj, message)

    def response_add(
        self, request: HttpRequest, obj: EmbeddingModel, post_url_continue: str | None = None
    ) -> HttpResponse:
        if obj.pk is not None:
            return super().response_add(request, obj, post_url_continue)
        self.message_user(
            request,
            f"Registration of {obj.name} queued: the model appears in this list once a worker has loaded its "
            "weights and exported its towers.",
        )
        return HttpResponseRedirect(reverse("admin:embeddings_embeddingmodel_changelist"))

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.method == "GET":
            for status in open_registrations():
                failed = status.state == RegistrationState.FAILED
                self.message_user(request, status.line(), level=messages.ERROR if failed else messages.INFO)
        return super().changelist_view(request, extra_context)

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
    @admin.action(description="Activate without the evaluation gates (force)", permissions=["force_activate"])
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
