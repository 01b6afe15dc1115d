"""Security: staff-only admin, CSRF on every form, no SQL built from input, production settings that
refuse to start unsafe, secrets from files, upload limits, and a per-client request budget."""

from __future__ import annotations

import ast
import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from PIL import Image

from catalog.models import Artwork
from museum_site.tests.hostile_images import decompression_bomb_png

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k3V9-pq7T_0wZr8sY2xL5mN1bC4dF6gH8jK0lQ3eR7tU9iO2aS"
TEST_DATABASE = "postgresql://museum@localhost:5432/museum"


# --- The admin is for staff only -------------------------------------------------------------------


def _admin_urls() -> list[str]:
    urls = ["/admin/"]
    for model in admin.site._registry:
        meta = model._meta
        urls += [f"/admin/{meta.app_label}/{meta.model_name}/", f"/admin/{meta.app_label}/{meta.model_name}/add/"]
    return urls


@pytest.mark.django_db
def test_it_keeps_visitors_and_non_staff_users_out_of_the_admin(django_user_model: Any) -> None:
    visitor = Client()
    vera = Client()
    vera.force_login(django_user_model.objects.create_user("vera_visitor", password="a-long-pass-phrase"))
    for url in _admin_urls():
        for client in (visitor, vera):
            response = client.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith("/admin/login/"), url


@pytest.mark.django_db
def test_it_gives_staff_only_what_their_permissions_allow(django_user_model: Any) -> None:
    carla = django_user_model.objects.create_user("carla_curator", password="a-long-pass-phrase", is_staff=True)
    carla.user_permissions.add(Permission.objects.get(codename="view_artwork"))
    client = Client()
    client.force_login(carla)
    assert client.get("/admin/catalog/artwork/").status_code == 200
    assert client.get("/admin/catalog/artwork/add/").status_code == 403
    assert client.get("/admin/embeddings/embeddingmodel/").status_code == 403


# --- CSRF on every form --------------------------------------------------------------------------


def _views(patterns: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found += _views(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            found.append((prefix + str(pattern.pattern), pattern.callback))
    return found


def test_no_view_of_the_site_is_exempt_from_csrf() -> None:
    # django-ninja marks its API views exempt: they authenticate no one by cookie, so a forged
    # cross-site request can do nothing a visitor cannot already do.
    exempt = [
        route
        for route, view in _views(get_resolver().url_patterns)
        if getattr(view, "csrf_exempt", False) and not view.__module__.startswith("ninja.")
    ]
    assert exempt == []


@pytest.mark.django_db
def test_every_post_form_carries_a_csrf_token_and_a_post_without_one_is_refused(
    django_user_model: Any, client: Client
) -> None:
    artwork = Artwork.objects.create(aic_id=4242, title="A quiet harbour", content_hash="x")
    django_user_model.objects.create_superuser("sam_superuser", password="a-long-pass-phrase")
    strict = Client(enforce_csrf_checks=True)
    pages = ["/", "/search/image", f"/artworks/{artwork.aic_id}", "/admin/login/"]
    strict.login(username="sam_superuser", password="a-long-pass-phrase")
    pages += [*_admin_urls(), f"/admin/catalog/artwork/{artwork.pk}/change/"]
    forms = 0
    for page in pages:
        html = strict.get(page).content.decode()
        for form in re.findall(r"<form\b[^>]*>.*?</form>", html, flags=re.S | re.I):
            if re.search(r"method=[\"']?post", form, flags=re.I):
                forms += 1
                assert 'name="csrfmiddlewaretoken"' in form, f"{page}: {form[:200]}"
    assert forms >= 5
    change = f"/admin/catalog/artwork/{artwork.pk}/change/"
    forged = strict.post(change, {"is_hidden": "on", "boost": "9", "curator_note": "forged"})
    assert forged.status_code == 403
    artwork.refresh_from_db()
    assert (artwork.is_hidden, artwork.curator_note) == (False, "")
    login = Client(enforce_csrf_checks=True).post("/admin/login/", {"username": "sam_superuser", "password": "x"})
    assert login.status_code == 403


# --- No SQL built from input -----------------------------------------------------------------------

SQL_CALLS = {"execute", "executemany", "raw", "extra", "RawSQL", "copy"}
# Reviewed interpolations that cannot carry input: an index name made from a primary key
# (EmbeddingModel.hnsw_index_name is f"artwork_embedding_hnsw_{self.pk}"), and the SQL Django's
# compiler made of a queryset (search/statements.py ListingStatement.compiled_sql: values are parameters).
SAFE_INTERPOLATIONS = {"self.hnsw_index_name", "self.compiled_sql"}
NUMBERS = {"int", "float"}


def _python_files() -> list[Path]:
    skip = {".venv", "var", "migrations", "tests", "__pycache__", "bench"}
    return [
        path
        for path in ROOT.rglob("*.py")
        if not skip & set(path.relative_to(ROOT).parts) and path.name != "conftest.py"
    ]


def _module_names(tree: ast.Module) -> set[str]:
    """Names bound when the module is imported: constants and imports, fixed before any request."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _input_in(expr: ast.expr, local: dict[str, list[ast.expr]], module: set[str], depth: int = 0) -> list[str]:
    """Parts of a SQL expression that could carry input: names that are neither module constants
    nor locals made only of them (a number made with int() or float() is always safe)."""
    if ast.unparse(expr) in SAFE_INTERPOLATIONS:
        return []
    if isinstance(expr, ast.Call) and getattr(expr.func, "id", "") in NUMBERS:
        return []
    if isinstance(expr, ast.JoinedStr):
        return [part for value in expr.values for part in _input_in(value, local, module, depth)]
    if isinstance(expr, ast.FormattedValue):
        return _input_in(expr.value, local, module, depth)
    bound_here = {
        target.id
        for node in ast.walk(expr)
        if isinstance(node, ast.comprehension)
        for target in ast.walk(node.target)
        if isinstance(target, ast.Name)
    }
    problems = []
    for node in ast.walk(expr):
        if not isinstance(node, ast.Name) or node.id in bound_here | module | {"str", "len", "sorted", "list"}:
            continue
        if node.id in local and depth < 5:
            problems += [part for value in local[node.id] for part in _input_in(value, local, module, depth + 1)]
        else:
            problems.append(ast.unparse(expr))
    return problems


def test_no_sql_is_built_from_input() -> None:
    problems: list[str] = []
    for path in _python_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        module = _module_names(tree)
        for function in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
            local: dict[str, list[ast.expr]] = {}
            for node in ast.walk(function):
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            local.setdefault(target.id, []).append(node.value)
            for node in ast.walk(function):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in SQL_CALLS:
                    for part in _input_in(node.args[0], local, module - set(local)):
                        problems.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}() interpolates {part}")
    assert problems == []


def test_the_sql_check_catches_sql_built_from_input() -> None:
    source = """
import x
TABLE = "artwork"
def bad(request, cursor):
    q = request.GET["q"]
    cursor.execute(f"SELECT * FROM {TABLE} WHERE title = '{q}'")
    cursor.execute("SELECT %s" % q)
    cursor.execute("SELECT " + q)
    cursor.execute("SELECT {}".format(q))
def good(cursor, k):
    cursor.execute(f"SELECT * FROM {TABLE} LIMIT {int(k)}", [k])
"""
    tree = ast.parse(source)
    found = []
    for function in [n for n in tree.body if isinstance(n, ast.FunctionDef)]:
        local = {
            target.id: [node.value]
            for node in ast.walk(function)
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for call in [
            n for n in ast.walk(function) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "execute"
        ]:
            found.append((function.name, bool(_input_in(call.args[0], local, _module_names(tree)))))
    assert found == [("bad", True)] * 4 + [("good", False)]


@pytest.mark.django_db
def test_sql_in_search_input_is_only_text(client: Client, embedding_model: Any) -> None:
    Artwork.objects.create(aic_id=4243, title="Harbour", content_hash="x")
    for payload in ["'; DROP TABLE catalog_artwork; --", "1' OR '1'='1", "x') UNION SELECT password FROM auth_user --"]:
        for params in ({"q": payload}, {"q": "harbour", "department": payload}, {"q": "harbour", "sort": payload}):
            assert client.get("/api/search", params).status_code < 500
    assert Artwork.objects.filter(aic_id=4243).exists()


# --- Production settings ---------------------------------------------------------------------------


def _settings_process(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "SECRET_KEY_FILE", "DEBUG", "PRODUCTION"}}
    clean.update({"DJANGO_SETTINGS_MODULE": "museum_site.settings", "DATABASE_URL": TEST_DATABASE, **env})
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "1", "SECRET_KEY": STRONG_KEY}, "DEBUG=1 is refused with PRODUCTION=1"),
        ({"SECRET_KEY": "dev-only-insecure-key"}, "is a published placeholder"),
        ({"SECRET_KEY": "test-only-secret-key"}, "is a published placeholder"),
        ({"SECRET_KEY": "django-insecure-" + "x" * 50}, "is a development key"),
        ({"SECRET_KEY": "short-but-random-9f3k"}, "is too weak"),
        ({"SECRET_KEY": "ab" * 40}, "is too weak"),
        ({}, "SECRET_KEY (or SECRET_KEY_FILE) must be set"),
    ],
    ids=["debug", "dev-key", "test-key", "django-insecure", "short", "repetitive", "missing"],
)
def test_production_settings_refuse_to_start_unsafe(env: dict[str, str], message: str) -> None:
    result = _settings_process("import museum_site.settings", PRODUCTION="1", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_manage_py_check_deploy_is_clean_in_production(tmp_path: Path) -> None:
    key_file = tmp_path / "django_secret_key"
    key_file.write_text(STRONG_KEY + "\n")
    env = {"PRODUCTION": "1", "SECRET_KEY_FILE": str(key_file), "ALLOWED_HOSTS": "museum.example.org"}
    result = _settings_process(
        "from django.core.management import execute_from_command_line as run;"
        "run(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])",
        **env,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    # Each protection is an environment switch, on by default in production and off elsewhere.
    show = "from django.conf import settings as s; print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.SECURE_HSTS_SECONDS)"
    assert _settings_process(show, **env).stdout.split() == ["True", "True", "31536000"]
    switched = _settings_process(show, **env, SECURE_SSL_REDIRECT="0", SECURE_COOKIES="0", SECURE_HSTS_SECONDS="60")
    assert switched.stdout.split() == ["False", "False", "60"]
    assert _settings_process(show, SECRET_KEY="x").stdout.split() == ["False", "False", "0"]


def test_secrets_come_from_the_environment_or_from_files(tmp_path: Path) -> None:
    files = {
        "SECRET_KEY": STRONG_KEY,
        "DATABASE_URL": "postgresql://museum:s3cret@db.internal:5432/museum",
        "REDIS_URL": "redis://:s3cret@redis.internal:6379/0",
    }
    env = {}
    for name, value in files.items():
        (tmp_path / name).write_text(value + "\n")
        env[f"{name}_FILE"] = str(tmp_path / name)
    code = (
        "from django.conf import settings as s;"
        "print(s.SECRET_KEY, s.DATABASES['default']['PASSWORD'], s.REDIS_URL, s.CELERY_BROKER_URL, sep='|')"
    )
    result = _settings_process(code, PRODUCTION="1", **{**env, "DATABASE_URL": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().split("|") == [STRONG_KEY, "s3cret", files["REDIS_URL"], files["REDIS_URL"]]
    missing = _settings_process("import museum_site.settings", SECRET_KEY_FILE=str(tmp_path / "absent"))
    assert missing.returncode != 0 and "SECRET_KEY_FILE" in missing.stderr


@pytest.mark.django_db
def test_https_redirect_spares_the_health_check(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    client = Client()
    redirect = client.get("/api/search?q=sea")
    assert redirect.status_code == 301 and redirect["Location"].startswith("https://")
    assert client.get("/healthz").status_code in (200, 503)


# --- Uploads are limited by bytes, pixels and type ---------------------------------------------------


def _png(width: int, height: int, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, "PNG")
    return buffer.getvalue()


def _upload(client: Client, data: bytes, name: str = "upload.png") -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post("/api/search/image", {"image": SimpleUploadedFile(name, data, "image/png")})


@pytest.mark.django_db
def test_an_uploaded_image_is_limited_by_bytes_pixels_and_type(embedding_model: Any, settings: Any) -> None:
    client = Client()
    settings.IMAGE_MAX_BYTES = 4096
    settings.IMAGE_MAX_PIXELS = 10_000
    too_many_bytes = _upload(client, os.urandom(5000))
    assert too_many_bytes.status_code == 400 and "4096 bytes" in too_many_bytes.json()["error"]
    too_many_pixels = _upload(client, _png(101, 100, "1"))
    assert too_many_pixels.status_code == 400 and "pixels" in too_many_pixels.json()["error"]
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "BMP")
    wrong_type = _upload(client, buffer.getvalue(), "upload.bmp")
    assert wrong_type.status_code == 400 and "not accepted" in wrong_type.json()["error"]
    assert _upload(client, b"%!PS-Adobe-3.0 EPSF-3.0\n").status_code == 400
    settings.IMAGE_MAX_BYTES = 1024 * 1024
    bomb = _upload(client, decompression_bomb_png())  # 30000 x 30000: refused before it is decoded
    assert bomb.status_code == 400, bomb.content[:200]
    assert _upload(client, _png(10, 10)).status_code == 200


# --- Every search route answers 429 with Retry-After once a client has spent its budget ----------------


@pytest.fixture
def rate_limited(settings: Any, redis_client: Any) -> Any:
    for key in redis_client.scan_iter("ratelimit:requests:*"):
        redis_client.delete(key)
    settings.RATE_LIMIT_BUDGET = 3
    settings.RATE_LIMIT_WINDOW_SECONDS = 30
    settings.RATE_LIMIT_COST_CACHED = 1
    settings.RATE_LIMIT_COST_SEARCH = 1
    return settings


@pytest.mark.django_db
def test_it_answers_429_with_retry_after_once_a_client_has_had_its_share(rate_limited: Any) -> None:
    client = Client(REMOTE_ADDR="203.0.113.7")
    answers = [client.get("/api/search", {"q": ""}) for _ in range(5)]
    assert [answer.status_code for answer in answers[:3]] == [400, 400, 400]  # counted whatever the answer
    refused = answers[3]
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 30
    assert "too many requests" in refused.json()["error"]
    assert answers[4].status_code == 429
    # Another client has its own budget; pages share the client's budget with the API.
    assert Client(REMOTE_ADDR="198.51.100.2").get("/api/search", {"q": ""}).status_code == 400
    page = client.get("/", {"q": "sea"})
    assert page.status_code == 429 and "Too many searches" in page.content.decode()


@pytest.mark.django_db
def test_it_counts_the_client_behind_a_trusted_proxy(rate_limited: Any) -> None:
    rate_limited.RATE_LIMIT_PROXY_COUNT = 1
    proxy = Client(REMOTE_ADDR="10.0.0.1")
    for _ in range(3):
        assert proxy.get("/api/search", {"q": ""}, HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 400
    assert proxy.get("/api/search", {"q": ""}, HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 429
    # A client cannot escape by forging the header: the proxy appends the address it saw last.
    forged = proxy.get("/api/search", {"q": ""}, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9")
    assert forged.status_code == 429
    assert proxy.get("/api/search", {"q": ""}, HTTP_X_FORWARDED_FOR="203.0.113.10").status_code == 400


@pytest.mark.django_db
def test_it_serves_the_api_when_redis_is_away(rate_limited: Any) -> None:
    rate_limited.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    client = Client(REMOTE_ADDR="203.0.113.8")
    assert [client.get("/api/search", {"q": ""}).status_code for _ in range(5)] == [400] * 5
