"""/api/openapi.json (OpenAPI 3) and /api/docs (HTML) describe the contract's REST API."""

import pytest

CONTRACT_OPERATIONS = [
    ("post", "/api/auth/register"),
    ("post", "/api/auth/login"),
    ("get", "/api/me"),
    ("get", "/api/rooms"),
    ("post", "/api/rooms"),
    ("get", "/api/rooms/{name}"),
    ("post", "/api/rooms/{name}/members"),
    ("delete", "/api/rooms/{name}/members/me"),
    ("get", "/api/rooms/{name}/members"),
    ("get", "/api/rooms/{name}/messages"),
    ("post", "/api/rooms/{name}/messages"),
    ("patch", "/api/messages/{message_id}"),
    ("delete", "/api/messages/{message_id}"),
    ("post", "/api/dm/{username}"),
    ("post", "/api/rooms/{name}/read"),
    ("get", "/api/users"),
    ("put", "/api/messages/{message_id}/reactions/{emoji}"),
    ("delete", "/api/messages/{message_id}/reactions/{emoji}"),
    ("get", "/api/search"),
]
PUBLIC_OPERATIONS = {("post", "/api/auth/register"), ("post", "/api/auth/login")}


@pytest.fixture
def spec(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_openapi_document_is_openapi_3(spec):
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"]


def test_openapi_needs_no_token(client):
    assert client.get("/api/openapi.json").status_code == 200


@pytest.mark.parametrize("method, path", CONTRACT_OPERATIONS)
def test_every_contract_operation_is_documented(spec, method, path):
    assert method in spec["paths"].get(path, {}), f"{method.upper()} {path} missing"


def test_bearer_auth_security_scheme_is_declared(spec):
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {"type": "http", "scheme": "bearer"}


@pytest.mark.parametrize(
    "method, path", [op for op in CONTRACT_OPERATIONS if op not in PUBLIC_OPERATIONS]
)
def test_token_operations_require_bearer_auth(spec, method, path):
    assert {"bearerAuth": []} in spec["paths"][path][method].get("security", [])


@pytest.mark.parametrize("method, path", sorted(PUBLIC_OPERATIONS))
def test_register_and_login_need_no_token(spec, method, path):
    assert not spec["paths"][path][method].get("security")


def test_send_documents_201_and_the_idempotent_200(spec):
    responses = spec["paths"]["/api/rooms/{name}/messages"]["post"]["responses"]
    assert {"200", "201", "429"} <= set(responses)


def test_error_responses_use_the_error_shape(spec):
    response = spec["paths"]["/api/auth/register"]["post"]["responses"]["409"]
    ref = response["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert schema["required"] == ["error"]


def test_operations_have_a_summary(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "patch", "delete", "put"):
                assert operation.get("summary"), f"{method.upper()} {path} has no summary"


def test_docs_page_is_html_listing_the_paths(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for _, path in CONTRACT_OPERATIONS:
        assert path in page


def test_browser_client_is_served_at_the_root(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"


def test_search_and_reactions_document_their_inputs_and_errors(spec):
    search = spec["paths"]["/api/search"]["get"]
    params = {p["name"]: p for p in search["parameters"]}
    assert {"q", "room", "before", "limit"} <= set(params)
    assert params["q"]["required"] is True
    assert {"200", "401", "404", "422", "429"} <= set(search["responses"])
    react = spec["paths"]["/api/messages/{message_id}/reactions/{emoji}"]["put"]
    assert {"200", "401", "403", "404", "409", "422", "429"} <= set(react["responses"])


def test_messages_document_mentions_and_reactions(spec):
    message = spec["components"]["schemas"]["Message"]["properties"]
    assert message["mentions"]["type"] == "array"
    reaction = message["reactions"]["items"]["$ref"].rsplit("/", 1)[1]
    properties = spec["components"]["schemas"][reaction]["properties"]
    assert properties["emoji"]["type"] == "string"
    assert properties["usernames"]["type"] == "array"
    history = spec["paths"]["/api/rooms/{name}/messages"]["get"]
    assert "around" in {p["name"] for p in history["parameters"]}
