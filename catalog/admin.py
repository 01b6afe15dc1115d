from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from catalog.models import Artwork, QueryPin, SyncRun, Synonym
from catalog.signals import artworks_changed
from catalog.withdrawals import WithdrawalError, approve_held_withdrawal
from core.admin_extensions import ExtensibleModelAdmin


class WithdrawnFilter(admin.SimpleListFilter):
    """Artworks the source no longer lists (withdrawn by a complete walk)."""

    title = "withdrawn by AIC"
    parameter_name = "withdrawn"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Artwork]) -> list[tuple[str, str]]:
        return [("yes", "Withdrawn"), ("no", "Listed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Artwork]) -> QuerySet[Artwork]:
        if self.value() == "yes":
            return queryset.exclude(withdrawn_at=None)
        if self.value() == "no":
            return queryset.filter(withdrawn_at=None)
        return queryset


class HasImageFilter(admin.SimpleListFilter):
    title = "has image"
    parameter_name = "has_image"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Artwork]) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Artwork]) -> QuerySet[Artwork]:
        if self.value() == "yes":
            return queryset.exclude(image_id="")
        if self.value() == "no":
            return queryset.filter(image_id="")
        return queryset


@admin.register(Artwork)
class ArtworkAdmin(ExtensibleModelAdmin):
    list_display = [
        "thumbnail",
        "aic_id",
        "title",
        "artist_display",
        "date_display",
        "is_hidden",
        "boost",
        "withdrawn_at",
    ]
    list_display_links = ["aic_id", "title"]
    list_filter = ["department_title", "is_public_domain", "is_hidden", WithdrawnFilter, HasImageFilter]
    search_fields = ["title", "artist_display", "=aic_id"]
    list_per_page = 50
    actions = ["hide", "unhide"]
    readonly_fields = [
        f.name
        for f in Artwork._meta.get_fields()
        if f.concrete and f.name not in {"id", "is_hidden", "boost", "curator_note", "description_override"}
    ]
    fieldsets = [
        ("Curation", {"fields": ["is_hidden", "boost", "curator_note", "description_override"]}),
        (
            "AIC record",
            {
                "fields": [
                    "aic_id",
                    "title",
                    "artist_display",
                    "date_display",
                    "date_start",
                    "date_end",
                    "place_of_origin",
                    "medium_display",
                    "dimensions",
                    "description",
                    "short_description",
                    "alt_text",
                    "department_title",
                    "artwork_type_title",
                    "classification_titles",
                    "style_titles",
                    "subject_titles",
                    "term_titles",
                    "is_public_domain",
                    "is_on_view",
                    "image_id",
                    "aic_updated_at",
                    "withdrawn_at",
                    "content_hash",
                    "raw",
                ]
            },
        ),
    ]

    @admin.display(description="image")
    def thumbnail(self, artwork: Artwork) -> SafeString | str:
        url = artwork.iiif_image_url(settings.AIC_IIIF_URL, "!96,96")
        return format_html('<img src="{}" alt="" loading="lazy" height="48">', url) if url else "—"

    # Hiding and showing are curation: the same permission as editing an artwork's curation fields.
    @admin.action(description="Hide from search", permissions=["change"])
    def hide(self, request: HttpRequest, queryset: QuerySet[Artwork]) -> None:
        count = queryset.update(is_hidden=True)
        transaction.on_commit(lambda: artworks_changed.send(sender=Artwork))
        self.message_user(request, f"{count} artworks hidden.")

    @admin.action(description="Show in search", permissions=["change"])
    def unhide(self, request: HttpRequest, queryset: QuerySet[Artwork]) -> None:
        count = queryset.update(is_hidden=False)
        transaction.on_commit(lambda: artworks_changed.send(sender=Artwork))
        self.message_user(request, f"{count} artworks shown.")


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin[SyncRun]):
    list_display = [
        "id",
        "source",
        "status",
        "started_at",
        "finished_at",
        "seen",
        "created",
        "updated",
        "unchanged",
        "failed",
        "requests",
        "page",
        "withdrawn",
        "restored",
        "held",
    ]
    list_filter = ["status", "source"]
    readonly_fields = [f.name for f in SyncRun._meta.get_fields() if f.concrete]
    actions = ["approve_withdrawals"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="withdrawals held", boolean=True)
    def held(self, run: SyncRun) -> bool:
        return bool(run.withdrawal_held)

    def has_approve_withdrawal_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("catalog.approve_withdrawal")

    @admin.action(description="Approve held withdrawals", permissions=["approve_withdrawal"])
    def approve_withdrawals(self, request: HttpRequest, queryset: QuerySet[SyncRun]) -> None:
        for run in queryset.exclude(withdrawal_held=""):
            try:
                withdrawn = approve_held_withdrawal(run)
            except WithdrawalError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)
            else:
                self.message_user(request, f"Harvest run {run.pk}: {withdrawn} artworks withdrawn.")


@admin.register(QueryPin)
class QueryPinAdmin(admin.ModelAdmin[QueryPin]):
    """Artworks put first for a query. Curation: Django's own add, change and delete permissions on pins."""

    list_display = ["query", "position", "artwork", "note", "created_by", "created_at"]
    list_display_links = ["query", "artwork"]
    list_filter = ["created_at"]
    search_fields = ["query", "artwork__title", "=artwork__aic_id"]
    ordering = ["query", "position", "pk"]
    # A catalog of any size: the artwork is chosen by its database id (the magnifier searches titles).
    raw_id_fields = ["artwork"]
    fields = ["query", "artwork", "position", "note", "created_by", "created_at"]
    readonly_fields = ["created_by", "created_at"]

    def save_model(self, request: HttpRequest, obj: QueryPin, form: ModelForm[QueryPin], change: bool) -> None:
        if obj.created_by_id is None and request.user.is_authenticated:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Synonym)
class SynonymAdmin(admin.ModelAdmin[Synonym]):
    """Terms keyword search treats as one. Curation: Django's own add, change and delete permissions on synonyms."""

    list_display = ["terms", "note", "created_by", "created_at"]
    search_fields = ["terms", "note"]
    fields = ["terms", "note", "created_by", "created_at"]
    readonly_fields = ["created_by", "created_at"]

    def save_model(self, request: HttpRequest, obj: Synonym, form: ModelForm[Synonym], change: bool) -> None:
        if obj.created_by_id is None and request.user.is_authenticated:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
