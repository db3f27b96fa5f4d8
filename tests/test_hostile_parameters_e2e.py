"""Hostile path and query parameters on every route, and a hostile multipart upload: never a 5xx.

Every operation of the OpenAPI document with a path or query parameter is walked: each parameter in turn gets
NUL and other control characters, 10,000 characters, invalid UTF-8, integers beyond 64 bits and 5,000 digits long,
zero, negative and non-numeric numbers, path traversal, and the parameter repeated with a hostile value. A refusal
is a 4xx in the API's error shape (OpenAI's on its surface); a 400 names the parameter; a control character is
never accepted; no money moves; the connection keeps serving; another workspace's completion still completes.
The walk reads the document, so a route added anywhere is covered without touching this file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ingress import apidocs
from ingress.openapi_examples import example_for
from tests.conftest import ADMIN_KEY, Stack, Workspace, make_workspace
from tests.door_probe import assert_another_workspace_completes
from tests.walk_targets import spare_key_and_endpoint

DOCUMENT: dict[str, Any] = json.loads(apidocs.OPENAPI_PATH.read_text())
COMPONENTS: dict[str, Any] = DOCUMENT["components"]["schemas"]
PARAMETERS: dict[str, Any] = DOCUMENT["components"].get("parameters", {})
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
OPENAI_PREFIX = "/api/v1/openai/"
MULTIPART = "multipart/form-data"

# Hostile values as they go on the wire (already percent-encoded), each with whether a server may accept it:
# a control character or an out-of-range number never is; a long or odd-looking but printable value may be,
# when the parameter is free text (a 404 for an unknown id is the usual answer).
CONTROL = {"NUL": "a%00b", "SOH": "%01", "DEL": "%7F", "NEL (C1)": "%C2%85", "newline": "a%0Ab"}
PRINTABLE = {
    "10,000 characters": "x" * 10_000,
    "invalid UTF-8": "%FF%FE",
    "path traversal": "..%2F..%2Fadmin",
    "2**63": str(2**63),
    "2**64": str(2**64),
    "-2**63-1": str(-(2**63) - 1),
    "10**30": str(10**30),
    "5,000 digits": "9" * 5_000,
}
# An integer parameter is also sent these; none is a number it can take.
NOT_AN_INTEGER = {"zero": "0", "negative": "-1", "non-numeric": "ten", "fraction": "1.5", "empty": ""}

# Fill-ins for path parameters not being walked: the fixtures' real objects by name (see `_fill_ins`); a name
# no fixture knows gets a well-formed unknown id.
UNKNOWN_ID = "unknown0"


@dataclass(frozen=True)
class Parameter:
    name: str
    where: str  # "path" or "query"
    schema: dict[str, Any]

    @property
    def integer(self) -> bool:
        return _kind(self.schema) == "integer"


def _kind(schema: dict[str, Any]) -> str | None:
    for option in schema.get("anyOf", [schema]):
        if option.get("type") not in (None, "null"):
            return str(option["type"])
    return None


def _resolved(parameter: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in parameter:
        parameter = PARAMETERS[str(parameter["$ref"]).rsplit("/", 1)[-1]]
    return parameter


def _parameters(item: dict[str, Any], operation: dict[str, Any]) -> list[Parameter]:
    found = [_resolved(raw) for raw in [*item.get("parameters", []), *operation.get("parameters", [])]]
    return [Parameter(p["name"], p["in"], p.get("schema", {})) for p in found if p["in"] in ("path", "query")]


def _operations() -> Iterator[tuple[str, dict[str, Any], list[Parameter]]]:
    for path, item in sorted(DOCUMENT["paths"].items()):
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            parameters = _parameters(item, operation)
            if parameters or MULTIPART in operation.get("requestBody", {}).get("content", {}):
                yield f"{method.upper()} {path}", operation, parameters


OPERATIONS = {key: (operation, parameters) for key, operation, parameters in _operations()}
WALKED = sorted(key for key, (_, parameters) in OPERATIONS.items() if parameters)
UPLOADS = sorted(
    key
    for key, (operation, _) in OPERATIONS.items()
    if MULTIPART in operation.get("requestBody", {}).get("content", {})
)


def _benign(parameter: Parameter) -> str:
    """A well-formed value for a query parameter, sent beside a hostile one when the parameter is repeated."""
    options = [o for o in parameter.schema.get("anyOf", [parameter.schema]) if o.get("type") != "null"]
    option = options[0] if options else {}
    if "enum" in option:
        return str(option["enum"][0])
    if option.get("type") == "integer":
        return str(option.get("minimum", 1))
    if option.get("type") == "boolean":
        return "false"
    if option.get("format") == "date-time":
        return "2024-01-01T00:00:00Z"
    return "x"


@dataclass(frozen=True)
class Case:
    label: str
    value: str  # percent-encoded; for a repeated query parameter, the whole `name=..&name=..` text
    may_accept: bool
    repeated: bool = False


def _cases(parameter: Parameter) -> list[Case]:
    cases = [Case(label, value, may_accept=False) for label, value in CONTROL.items()]
    printable_ok = not parameter.integer
    cases += [Case(label, value, may_accept=printable_ok) for label, value in PRINTABLE.items()]
    if parameter.integer:
        # An empty path segment would address another route (or a redirect to it), not this parameter.
        numbers = {k: v for k, v in NOT_AN_INTEGER.items() if v or parameter.where == "query"}
        cases += [Case(label, value, may_accept=False) for label, value in numbers.items()]
    if parameter.where == "query":
        name, benign = parameter.name, _benign(parameter)
        cases += [
            Case("repeated, hostile last", f"{name}={benign}&{name}=%00", may_accept=False, repeated=True),
            Case("repeated, hostile first", f"{name}=%00&{name}={benign}", may_accept=False, repeated=True),
        ]
    return cases


@dataclass(frozen=True)
class Fixtures:
    workspace: Workspace  # the walking workspace (its key has every scope)
    target: Workspace  # the workspace the admin routes are walked on
    fill_ins: dict[str, str]


@pytest.fixture(scope="module")
async def fixtures(stack: Stack, engine: AsyncEngine) -> Fixtures:
    workspace = await make_workspace(engine, tokens=1_000_000)
    target = await make_workspace(engine, tokens=500_000)
    spare_key_id, endpoint_id = await spare_key_and_endpoint(stack, engine, workspace, "hostile")
    fill_ins = {"workspace_id": target.id, "key_id": spare_key_id, "endpoint_id": endpoint_id}
    return Fixtures(workspace, target, fill_ins)


def _admin(operation: dict[str, Any]) -> bool:
    return any("adminAuth" in requirement for requirement in operation.get("security", []))


def _headers(operation: dict[str, Any], fixtures: Fixtures) -> dict[str, str]:
    if _admin(operation):
        return {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}
    return fixtures.workspace.headers


def _fill_in(parameter: Parameter, fixtures: Fixtures) -> str:
    if parameter.name in fixtures.fill_ins:
        return fixtures.fill_ins[parameter.name]
    return str(parameter.schema.get("minimum", 1)) if parameter.integer else UNKNOWN_ID


def _url(key: str, parameters: list[Parameter], walked: Parameter, case: Case, fixtures: Fixtures) -> str:
    """The operation's URL with the walked parameter hostile and every other path parameter filled in (query
    parameters not walked are left out: each has a default or is optional)."""
    path = key.split(" ", 1)[1].removeprefix("/api/v1")
    for parameter in parameters:
        if parameter.where == "path":
            value = case.value if parameter is walked else _fill_in(parameter, fixtures)
            path = path.replace(f"{{{parameter.name}}}", value)
    if walked.where == "query":
        path += "?" + (case.value if case.repeated else f"{walked.name}={case.value}")
    return path


def _body(key: str, operation: dict[str, Any]) -> bytes | None:
    """The operation's documented example body (so only the parameter is wrong), if it takes one."""
    content = operation.get("requestBody", {}).get("content", {})
    media = content.get("application/json")
    if media is None:
        return None
    example = media.get("example", example_for(key, media.get("schema"), COMPONENTS))
    return json.dumps(example).encode()


def _judged(
    response: httpx.Response, connection: Connection, key: str, where: str, *, named: str | None, may_accept: bool
) -> list[str]:
    """What is wrong with one answer of the walk: the connection, a 5xx, a refusal outside the surface's error
    shape or naming nothing, or a hostile value accepted where none may be."""
    TALLY.add(response.status_code)
    problems = [f"{where}: {problem}"] if (problem := connection.problem(response)) else []
    if response.status_code >= 500:
        problems.append(f"{where}: {response.status_code} {response.text[:200]}")
    elif response.status_code >= 400:
        if problem := _refusal_problem(response, key, named):
            problems.append(f"{where}: {problem}")
    elif not may_accept:
        problems.append(f"{where}: accepted ({response.status_code}) {response.text[:200]}")
    return problems


def _refusal_problem(response: httpx.Response, key: str, named: str | None) -> str | None:
    """What is wrong with a 4xx (None: it is in the API's error shape and, a 400, names the parameter)."""
    try:
        body = response.json()
    except ValueError:
        return f"a {response.status_code} that is not JSON: {response.text[:200]}"
    if key.split(" ", 1)[1].startswith(OPENAI_PREFIX):
        error = body.get("error") if isinstance(body, dict) else None
        shaped = isinstance(error, dict) and error.get("code") and error.get("type")
        message = error.get("message") if shaped and isinstance(error, dict) else None
    else:
        shaped = isinstance(body, dict) and body.get("status") == response.status_code and body.get("code")
        message = body.get("error") if shaped and body.get("request_id") else None
    if not isinstance(message, str) or not message:
        return f"a {response.status_code} not in the error shape: {response.text[:200]}"
    if response.status_code == 400 and named is not None and named not in message:
        return f"a 400 not naming {named!r}: {message[:200]}"
    if "items after validation" in message:
        # pydantic's wording for a bound checked after a validator: a text parameter's characters called items.
        return f"a 400 counting a text's characters as items: {message[:200]}"
    return None


async def _money(client: httpx.AsyncClient, *workspaces: Workspace) -> list[tuple[int, int]]:
    """Each workspace's balance and holds, exact integers."""
    held = []
    for workspace in workspaces:
        balance = (await client.get("/balance", headers=workspace.headers)).json()
        held.append((balance["balance_tokens"], balance["held_tokens"]))
    return held


def _socket(response: httpx.Response) -> Any:
    """The connection a response came over (the stream object itself: a closed socket has no address left)."""
    return response.extensions.get("network_stream")


class Connection:
    """Proves the connection a refusal came over serves the next request, unless the refusal said it closes."""

    def __init__(self) -> None:
        self.previous: Any = None
        self.closes = 0

    def problem(self, response: httpx.Response) -> str | None:
        problem = None
        if self.previous is not None and _socket(response) is not self.previous:
            problem = "the connection did not serve the next request (a new one was opened)"
        if response.headers.get("connection", "").lower() == "close":
            self.closes += 1
            self.previous = None
        else:
            self.previous = _socket(response)
        return problem


@dataclass
class Tally:
    """What the walk saw, by kind (printed, so a run shows the surface it covered)."""

    requests: int = 0
    by_status: dict[int, int] | None = None

    def add(self, status: int) -> None:
        self.requests += 1
        self.by_status = self.by_status or {}
        self.by_status[status] = self.by_status.get(status, 0) + 1


TALLY = Tally()


@pytest.mark.parametrize("key", WALKED)
async def test_hostile_path_and_query_parameters_are_refused_in_the_error_shape(
    stack: Stack, fixtures: Fixtures, key: str
) -> None:
    operation, parameters = OPERATIONS[key]
    method = key.split(" ", 1)[0]
    headers, body = _headers(operation, fixtures), _body(key, operation)
    # One connection for the whole operation, so a refusal that broke it shows on the next request.
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60, limits=httpx.Limits(max_connections=1)) as client:
        money_before = await _money(client, fixtures.workspace, fixtures.target)
        connection = Connection()
        problems: list[str] = []
        for parameter in parameters:
            for case in _cases(parameter):
                url = _url(key, parameters, parameter, case, fixtures)
                where = f"{parameter.where} {parameter.name} = {case.label}"
                try:
                    response = await client.request(method, url, content=body, headers=headers)
                except httpx.HTTPError as error:
                    problems.append(f"{where}: no answer ({error!r})")
                    connection.previous = None
                    continue
                # A write accepted with a hostile value changed something: no such value names a real object.
                may_accept = case.may_accept and method == "GET"
                problems += _judged(response, connection, key, where, named=parameter.name, may_accept=may_accept)
        money_after = await _money(client, fixtures.workspace, fixtures.target)
    assert problems == [], f"{key}:\n" + "\n".join(problems)
    assert money_after == money_before, "a refused request moved money"


# Multipart uploads: each case is the form's parts (name, filename or None, content) or a whole raw body with its
# content type, and the part a 400 must name (None: any field of the form may be named).
JSONL_LINE = (
    b'{"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions", '
    b'"body": {"model": "openai/gpt-4.1-mini", "messages": [{"role": "user", "content": "Hi"}]}}\n'
)
Part = tuple[str, str | None, bytes]


@dataclass(frozen=True)
class Upload:
    label: str
    parts: list[Part] | None = None
    raw: tuple[str, bytes] | None = None
    named: str | None = None
    may_accept: bool = False
    # Accepted, but a batch made of the file must be refused (in the error shape, moving nothing).
    unusable: bool = False


def _file(filename: str = "input.jsonl", content: bytes = JSONL_LINE) -> Part:
    return ("file", filename, content)


def _purpose(value: bytes) -> Part:
    return ("purpose", None, value)


_ANCHOR = "expires_after[anchor]"
_SECONDS = "expires_after[seconds]"


def _expiry(anchor: bytes, seconds: bytes) -> list[Part]:
    return [(_ANCHOR, None, anchor), (_SECONDS, None, seconds)]


UPLOAD_CASES = [
    Upload("purpose NUL", [_purpose(b"batch\x00"), _file()], named="purpose"),
    Upload("purpose only NUL", [_purpose(b"\x00"), _file()], named="purpose"),
    Upload("purpose control characters", [_purpose(b"\x01\x1b[31m"), _file()], named="purpose"),
    Upload("purpose 10,000 characters", [_purpose(b"b" * 10_000), _file()], named="purpose"),
    Upload("purpose unknown", [_purpose(b"fine-tune"), _file()], named="purpose"),
    Upload("purpose invalid UTF-8", [_purpose(b"\xff\xfe"), _file()], named="purpose"),
    Upload("purpose repeated, hostile last", [_purpose(b"batch"), _purpose(b"\x00"), _file()], named="purpose"),
    Upload("purpose repeated, hostile first", [_purpose(b"\x00"), _purpose(b"batch"), _file()], named="purpose"),
    Upload("filename NUL", [_purpose(b"batch"), _file("in\x00put.jsonl")], named="filename"),
    Upload("filename control characters", [_purpose(b"batch"), _file("in\x01\x7f\x1bput.jsonl")], named="filename"),
    # Over the multipart parser's header limit (4 KiB): refused, naming the file part and the limit.
    Upload("filename 10,000 characters", [_purpose(b"batch"), _file("f" * 10_000)], named="filename"),
    Upload("filename 300 characters", [_purpose(b"batch"), _file("f" * 300)], may_accept=True),
    Upload("filename path traversal", [_purpose(b"batch"), _file("../../etc/passwd")], may_accept=True),
    Upload("file part missing", [_purpose(b"batch")], named="file"),
    # A file is stored as sent (OpenAI's own upload checks lines later too): a batch made of it must be refused.
    Upload("file empty", [_purpose(b"batch"), _file(content=b"")], named="file", may_accept=True, unusable=True),
    Upload(
        "file not JSONL",
        [_purpose(b"batch"), _file(content=b"\x89PNG\r\n\x1a\n\x00\x00")],
        named="file",
        may_accept=True,
        unusable=True,
    ),
    Upload(
        "expires_after seconds NUL", [_purpose(b"batch"), *_expiry(b"created_at", b"36\x0000"), _file()], named=_SECONDS
    ),
    Upload(
        "expires_after seconds 10,000 digits",
        [_purpose(b"batch"), *_expiry(b"created_at", b"9" * 10_000), _file()],
        named=_SECONDS,
    ),
    Upload(
        "expires_after seconds negative",
        [_purpose(b"batch"), *_expiry(b"created_at", b"-3600"), _file()],
        named=_SECONDS,
    ),
    Upload(
        "expires_after seconds full-width digits",
        [_purpose(b"batch"), *_expiry(b"created_at", "\uff13\uff16\uff10\uff10".encode()), _file()],
        named=_SECONDS,
    ),
    Upload(
        "expires_after anchor control characters",
        [_purpose(b"batch"), *_expiry(b"\x01\x1b[31m", b"3600"), _file()],
        named=_ANCHOR,
    ),
    Upload(
        "expires_after anchor invalid UTF-8",
        [_purpose(b"batch"), *_expiry(b"\xff\xfe", b"3600"), _file()],
        named=_ANCHOR,
    ),
    Upload(
        "expires_after seconds alone",
        [_purpose(b"batch"), ("expires_after[seconds]", None, b"3600"), _file()],
        named=_ANCHOR,
    ),
    Upload(
        "expires_after seconds repeated",
        [_purpose(b"batch"), *_expiry(b"created_at", b"3600"), ("expires_after[seconds]", None, b"7200"), _file()],
        named=_SECONDS,
    ),
    Upload("body JSON, not multipart", raw=("application/json", b'{"purpose": "batch"}'), named="multipart"),
    Upload("multipart without a boundary", raw=("multipart/form-data", b"--x\r\n\r\n--x--\r\n"), named="file"),
    Upload("body empty", raw=("multipart/form-data; boundary=x", b"")),
]


async def _batch_problem(client: httpx.AsyncClient, fixtures: Fixtures, file_id: str) -> str | None:
    """What is wrong with creating a batch of an unusable file (None: a 4xx in OpenAI's error shape)."""
    body = {"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    created = await client.post("/openai/batches", json=body, headers=fixtures.workspace.headers)
    if not 400 <= created.status_code < 500:
        return f"a batch of it was answered {created.status_code}: {created.text[:200]}"
    return _refusal_problem(created, f"POST {OPENAI_PREFIX}batches", None)


def _multipart(parts: list[Part]) -> tuple[str, bytes]:
    """A form built by hand: httpx would refuse (or quote) the hostile filenames sent here as they are."""
    boundary = b"hostile-boundary-7f3a"
    chunks = []
    for name, filename, content in parts:
        disposition = b'form-data; name="' + name.encode() + b'"'
        if filename is not None:
            disposition += b'; filename="' + filename.encode() + b'"'
        chunks.append(b"--" + boundary + b"\r\nContent-Disposition: " + disposition + b"\r\n\r\n" + content + b"\r\n")
    body = b"".join(chunks) + b"--" + boundary + b"--\r\n"
    return f"multipart/form-data; boundary={boundary.decode()}", body


@pytest.mark.parametrize("key", UPLOADS)
async def test_a_hostile_multipart_upload_is_refused_in_the_error_shape(
    stack: Stack, fixtures: Fixtures, key: str
) -> None:
    url = key.split(" ", 1)[1].removeprefix("/api/v1")
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60, limits=httpx.Limits(max_connections=1)) as client:
        money_before = await _money(client, fixtures.workspace)
        connection = Connection()
        problems: list[str] = []
        for upload in UPLOAD_CASES:
            content_type, body = upload.raw or _multipart(upload.parts or [])
            headers = {"Authorization": f"Bearer {fixtures.workspace.api_key}", "Content-Type": content_type}
            response = await client.post(url, content=body, headers=headers)
            problems += _judged(
                response, connection, key, upload.label, named=upload.named, may_accept=upload.may_accept
            )
            if response.status_code >= 400 or not upload.may_accept:
                continue
            if "\x00" in response.text or len(response.json().get("filename", "")) > 256:
                problems.append(f"{upload.label}: accepted, but stored as {response.text[:200]}")
            elif upload.unusable and (problem := await _batch_problem(client, fixtures, response.json()["id"])):
                problems.append(f"{upload.label}: {problem}")
        money_after = await _money(client, fixtures.workspace)
    assert problems == [], f"{key}:\n" + "\n".join(problems)
    assert money_after == money_before


async def test_another_workspace_completes_after_the_walk(
    stack: Stack, engine: AsyncEngine, fixtures: Fixtures
) -> None:
    # The walk cannot shrink unnoticed: a document change that hid the parameters would fail here.
    assert len(OPERATIONS) >= 49
    assert sum(len(_cases(p)) for _, parameters in OPERATIONS.values() for p in parameters) >= 1000
    print(f"hostile parameters: {TALLY.requests} requests, statuses {TALLY.by_status}")
    await assert_another_workspace_completes(stack.base_url, engine)


@pytest.mark.parametrize("path", ["/alerts", "/ledger/entries", "/webhooks/{endpoint_id}/deliveries"])
@pytest.mark.parametrize("cursor", [str(2**63), "9" * 19])
async def test_a_cursor_past_a_bigint_is_400_naming_it(
    client: httpx.AsyncClient, fixtures: Fixtures, path: str, cursor: str
) -> None:
    # Nineteen digits pass a length check but not PostgreSQL's bigint: compared with a row id, that was a 500.
    url = path.format(endpoint_id=fixtures.fill_ins["endpoint_id"])
    response = await client.get(url, params={"cursor": cursor}, headers=fixtures.workspace.headers)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_request"
    assert "cursor" in response.json()["error"]
    assert (
        await client.get(url, params={"cursor": str(2**63 - 1)}, headers=fixtures.workspace.headers)
    ).status_code == 200


@pytest.mark.parametrize("after", ["ws%00", "%01", "a%0Ab", "%7F", "%C2%85"])
async def test_a_control_character_in_the_admin_workspace_cursor_is_400_naming_it(
    client: httpx.AsyncClient, after: str
) -> None:
    # A NUL reached PostgreSQL (a 500); other control characters were compared with workspace ids as if one could
    # hold them.
    response = await client.get(f"/admin/workspaces?after={after}", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_request"
    assert "after" in response.json()["error"]


@pytest.mark.parametrize("name", ["key", "model", "tag"])
@pytest.mark.parametrize("value", ["%C2%85", "a%C2%9Bb"])
async def test_a_c1_control_character_in_a_ledger_entries_filter_is_400_naming_it(
    client: httpx.AsyncClient, fixtures: Fixtures, name: str, value: str
) -> None:
    # The filters' pattern refused C0 and DEL only: a C1 control was searched for as if a key, model or tag could
    # hold one (they cannot: each is a Label).
    response = await client.get(f"/ledger/entries?{name}={value}", headers=fixtures.workspace.headers)
    assert response.status_code == 400, response.text
    assert name in response.json()["error"]


@pytest.mark.parametrize(
    ("path", "query", "named"),
    [
        ("/batches", "limit=%00&limit=5", "limit"),
        ("/batches", "limit=5&limit=5", "limit"),
        ("/usage", "tag=a&model=b&tag=a", "tag"),
        ("/openai/batches", "limit=%01&limit=7", "limit"),
    ],
)
async def test_a_repeated_query_parameter_is_400_naming_it(
    client: httpx.AsyncClient, fixtures: Fixtures, path: str, query: str, named: str
) -> None:
    # The last value used to win and the others were dropped unseen, a NUL among them: which one a caller meant
    # is a guess, so neither is used.
    response = await client.get(f"{path}?{query}", headers=fixtures.workspace.headers)
    assert response.status_code == 400, response.text
    body = response.json()
    message = body["error"]["message"] if path.startswith("/openai/") else body["error"]
    assert named in message and "more than once" in message, body
    single = query.split("&", 1)[1] if path != "/usage" else "tag=a&model=b"
    assert (await client.get(f"{path}?{single}", headers=fixtures.workspace.headers)).status_code == 200


@pytest.mark.parametrize(
    "query", ["completion_window=%00", "completion_window=1h", "all_or_nothing=true", "metadata=%7B%7D"]
)
async def test_a_query_option_beside_a_batch_document_is_400_naming_it(
    client: httpx.AsyncClient, fixtures: Fixtures, query: str
) -> None:
    # A `{"requests": [...]}` document carries its options: one in the query was ignored (a NUL included) and the
    # batch created, holding credit, with other options than the caller asked for.
    before = await _money(client, fixtures.workspace)
    document = OPERATIONS["POST /api/v1/batches"][0]["requestBody"]["content"]["application/json"]["example"]
    response = await client.post(f"/batches?{query}", json=document, headers=fixtures.workspace.headers)
    assert response.status_code == 400, response.text
    assert query.split("=", 1)[0] in response.json()["error"]
    assert (await client.get("/batches", headers=fixtures.workspace.headers)).json()["data"] == []
    assert await _money(client, fixtures.workspace) == before


@pytest.mark.parametrize(
    ("metadata", "accepted"),
    [
        ({"k" * 65: "v"}, False),
        ({"k": "v" * 513}, False),
        ({f"k{n}": "v" for n in range(17)}, False),
        ({"k" * 64: "v" * 512}, True),
    ],
)
async def test_batch_metadata_has_openai_bounds_on_every_way_in(
    client: httpx.AsyncClient, fixtures: Fixtures, metadata: dict[str, str], accepted: bool
) -> None:
    # Keys and values were unbounded in a JSON document (960 KB of metadata stored, and returned by every read
    # and list page); OpenAI's are 64 and 512 characters.
    document = OPERATIONS["POST /api/v1/batches"][0]["requestBody"]["content"]["application/json"]["example"]
    headers = fixtures.workspace.headers
    answers = [await client.post("/batches", json={**document, "metadata": metadata}, headers=headers)]
    if len(json.dumps(metadata)) <= 4096:  # the query form's own bound on the whole object
        lines = "\n".join(json.dumps(line) for line in document["requests"]).encode()
        query = {"metadata": json.dumps(metadata)}
        answers.append(
            await client.post(
                "/batches", params=query, content=lines, headers={**headers, "Content-Type": "application/jsonl"}
            )
        )
    content_type, body = _multipart([_purpose(b"batch"), _file()])
    upload = await client.post("/openai/files", content=body, headers={**headers, "Content-Type": content_type})
    assert upload.status_code == 200, upload.text
    create = {
        "input_file_id": upload.json()["id"],
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        "metadata": metadata,
    }
    answers.append(await client.post("/openai/batches", json=create, headers=headers))
    for answer in answers:
        if accepted:
            assert answer.status_code in (200, 201), answer.text
            created = answer.json()
            assert (created.get("batch") or created)["metadata"] == metadata
        else:
            assert answer.status_code == 400, answer.text
            error = answer.json()["error"]
            assert "metadata" in (error["message"] if isinstance(error, dict) else error), error
    for answer in answers:
        if answer.status_code in (200, 201):
            created = answer.json()
            batch_id = (created.get("batch") or created)["id"]
            await client.post(f"/batches/{batch_id}/cancel", headers=headers)


@pytest.mark.parametrize(
    ("method", "path", "named"),
    [
        ("GET", "/admin/workspaces/%00", "workspace_id"),
        ("POST", "/admin/workspaces/a%01b/suspend", "workspace_id"),
        ("GET", "/admin/workspaces/%1B[2J/keys", "workspace_id"),
        ("POST", "/admin/keys/%00/rotate", "key_id"),
        ("DELETE", "/admin/keys/%7F", "key_id"),
    ],
)
async def test_a_control_character_in_an_admin_path_id_is_400_naming_it(
    client: httpx.AsyncClient, fixtures: Fixtures, method: str, path: str, named: str
) -> None:
    # It was a 404 quoting the id twice ("workspace ''\\x00'' not found"); every workspace route says 400 and names
    # the parameter.
    before = await _money(client, fixtures.target)
    response = await client.request(method, path, json={}, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert response.status_code == 400, response.text
    assert named in response.json()["error"] and "control characters" in response.json()["error"]
    assert await _money(client, fixtures.target) == before


@pytest.mark.parametrize("invoice_id", ["inv_unknown", str(2**64), "%FF%FE"])
async def test_marking_an_unknown_invoice_paid_is_404_naming_it(
    client: httpx.AsyncClient, fixtures: Fixtures, invoice_id: str
) -> None:
    # An unknown invoice was a 400 ("no invoice ... in this workspace") that named no parameter; an unknown id is a
    # 404 everywhere else.
    before = await _money(client, fixtures.target)
    url = f"/admin/workspaces/{fixtures.target.id}/invoices/{invoice_id}/paid"
    response = await client.post(url, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "not_found"
    assert "invoice_id" in response.json()["error"]
    assert await _money(client, fixtures.target) == before


@pytest.mark.parametrize("filename", ["in\x00put.jsonl", "\x01\x1b[2J.jsonl", "name\x85.jsonl"])
async def test_an_upload_named_with_control_characters_is_400_naming_filename(
    client: httpx.AsyncClient, fixtures: Fixtures, filename: str
) -> None:
    # A NUL in the name reached PostgreSQL (a 500); other control characters were stored and listed back.
    content_type, body = _multipart([_purpose(b"batch"), _file(filename)])
    headers = {"Authorization": f"Bearer {fixtures.workspace.api_key}", "Content-Type": content_type}
    response = await client.post("/openai/files", content=body, headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and "filename" in error["message"], error


@pytest.mark.parametrize("purposes", [[b"\x00", b"batch"], [b"fine-tune", b"batch"], [b"batch", b"batch"]])
async def test_an_upload_with_purpose_repeated_is_400_naming_purpose(
    client: httpx.AsyncClient, fixtures: Fixtures, purposes: list[bytes]
) -> None:
    # The form kept the last field, so a NUL or another purpose before 'batch' was dropped unseen.
    content_type, body = _multipart([*map(_purpose, purposes), _file()])
    headers = {"Authorization": f"Bearer {fixtures.workspace.api_key}", "Content-Type": content_type}
    response = await client.post("/openai/files", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert "purpose" in response.json()["error"]["message"]


async def test_an_unreadable_multipart_upload_says_why(client: httpx.AsyncClient, fixtures: Fixtures) -> None:
    # Starlette's own answer was "Invalid multipart data." whatever went wrong, here a filename past the parser's
    # header limit.
    content_type, body = _multipart([_purpose(b"batch"), _file("f" * 10_000)])
    headers = {"Authorization": f"Bearer {fixtures.workspace.api_key}", "Content-Type": content_type}
    response = await client.post("/openai/files", content=body, headers=headers)
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert "'file'" in message and "Maximum header size exceeded" in message and "filename" in message, message
