import Foundation
import Heed

/// The OpenAPI 3.1 document served at /openapi.json, built from the served models and limits, so
/// it is the one description of this server (`heed serve --openapi` prints it). Each model gets its
/// own predict path: which `explain` methods a request may name depends on the model, and a schema
/// that allowed `attention` for a model without it would describe requests the server refuses.
enum OpenAPIDocument {
    /// The document as sorted-key JSON.
    static func json(models: [ServedModel], configuration: ServeConfiguration) throws -> Data {
        try resultEncoder().encode(document(models: models, configuration: configuration))
    }

    /// The document as a value: the generic routes, then one predict path per model.
    private static func document(models: [ServedModel], configuration: ServeConfiguration) -> JSONValue {
        var paths: [String: JSONValue] = [
            Routes.health: get("health", "Whether the server is up", ok("Up", ref("Health"))),
            Routes.models: get("listModels", "The served models", ok("One entry per model, in the order given to heed serve", ref("ModelList"))),
            Routes.openAPI: get("openAPI", "This document", ok("The OpenAPI document", ["type": "object"])),
            Routes.page: get(
                "page", "The live page: type text and see it painted",
                ["description": "A self-contained HTML page", "content": ["text/html": ["schema": ["type": "string"]]]]),
        ]
        for model in models {
            paths[predictPath(model.name)] = predict(model, all: models, configuration: configuration)
        }
        return [
            "openapi": "3.1.0",
            "info": [
                "title": "heed serve", "version": "2",
                "description": .string(
                    "Text classification with attention-LSTMs over HTTP: one predict path per served model "
                        + "(/v1/models/{name}/predict; any other name is 404). Every result object is the JSON line "
                        + "`heed predict --json` (no method asked for) or `heed explain --json` (with `labels` added) prints "
                        + "for the same text. Token offsets are UTF-8 byte offsets into the text as sent. Errors are JSON objects "
                        + "with `error`, `status` and, when one field of the request is at fault, `field`; a path the server "
                        + "has under another method answers 405 with `Allow`. See docs/serve.md."),
            ],
            "paths": .object(paths),
            "components": ["schemas": schemas, "responses": responses],
        ]
    }

    /// `/v1/models/NAME/predict`, the name percent-encoded where a path needs it.
    static func predictPath(_ name: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/{}")
        return "/v1/models/\(name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name)/predict"
    }

    /// The predict operation of `model`, with examples of a request and links from its answer to
    /// the same first text as every model (`all`) reads it by default, to compare them.
    private static func predict(_ model: ServedModel, all: [ServedModel], configuration: ServeConfiguration) -> JSONValue {
        let methods = model.classifier.attributionMethods.map(\.rawValue)
        let byDefault = ExplainChoice.modelDefault.methods(for: model.classifier).map(\.rawValue)
        let links = Dictionary(
            all.map { other -> (String, JSONValue) in
                (
                    "firstTextWith-\(other.name)",
                    [
                        "operationId": .string("predict-\(other.name)"),
                        "description": .string("The first text of this request, as \(other.name) reads it by default"),
                        "requestBody": ["text": "$response.body#/results/0/text"],
                        "x-schemathesis": ["merge_body": false],
                    ]
                )
            }, uniquingKeysWith: { first, _ in first })
        let examples: JSONValue = [
            "one": ["summary": "One text, two labels", "value": ["text": "a gripping, beautifully acted film", "top_k": 2]],
            "batch": [
                "summary": "A batch, every method",
                "value": ["texts": ["a gripping film", "dull and far too long"], "explain": .string(methods.joined(separator: ",")), "steps": 8],
            ],
        ]
        return [
            "post": [
                "summary": .string("Label texts with \(model.name) (\(model.classifier.modelKind.rawValue)) and score their tokens"),
                "operationId": .string("predict-\(model.name)"),
                "requestBody": [
                    "required": true,
                    "content": [
                        "application/json": [
                            "schema": predictRequest(methods: methods, byDefault: byDefault, configuration: configuration), "examples": examples,
                        ]
                    ],
                ],
                "responses": [
                    "200": [
                        "description": "One result per text, in order", "content": ["application/json": ["schema": ref("PredictResponse")]],
                        "links": .object(links),
                    ],
                    "400": ["$ref": "#/components/responses/BadRequest"],
                    "413": ["$ref": "#/components/responses/TooLarge"],
                    "500": ["$ref": "#/components/responses/Internal"],
                    "503": ["$ref": "#/components/responses/Unavailable"],
                ],
            ]
        ]
    }

    /// The request body for a model with these `methods`: exactly one of `text` and `texts`, no
    /// field the server does not know, every value one the server accepts.
    private static func predictRequest(methods: [String], byDefault: [String], configuration: ServeConfiguration) -> JSONValue {
        let names = methods.joined(separator: "|")
        // A comma-separated list as the server splits it: items trimmed, empty items skipped.
        let item = "[ \\t\\r\\n]*(\(names))[ \\t\\r\\n]*"
        return [
            "type": "object",
            "additionalProperties": false,
            "oneOf": [["required": ["text"]], ["required": ["texts"]]],
            "properties": [
                "text": ["type": "string", "description": .string("At most --max-text-bytes (\(configuration.maxTextBytes)) UTF-8 bytes")],
                "texts": [
                    "type": "array", "items": ["type": "string"], "minItems": 1,
                    "description": .string(
                        "At most --max-texts (\(configuration.maxTexts)) texts of at most \(configuration.maxTextBytes) bytes each; split over the workers"),
                ],
                "top_k": [
                    "type": "integer", "minimum": 1, "maximum": .number(Double(JSONValue.largestInteger)),
                    "description": "List the K most probable labels in `labels` (default 1, or no limit with `threshold`)",
                ],
                "threshold": ["type": "number", "minimum": 0, "maximum": 1, "description": "List every label with at least this probability"],
                "explain": [
                    "description": .string(
                        "Methods to score tokens by: a name, a comma-separated list, an array, \"all\" or \"none\". "
                            + "Default: \(byDefault.isEmpty ? "none" : byDefault.joined(separator: ", "))."),
                    "anyOf": [
                        ["type": "string", "enum": ["all", "none"]],
                        ["type": "string", "pattern": .string("^(\(item))?(,(\(item))?)*$")],
                        ["type": "array", "items": ["type": "string", "enum": .array(methods.map(JSONValue.string))]],
                    ],
                ],
                "target": ["type": "string", "enum": ["logit", "probability"], "default": "logit", "description": "What gradients differentiate"],
                "steps": [
                    "type": "integer", "minimum": 1, "maximum": .number(Double(configuration.maxSteps)), "default": 32,
                    "description": "Integrated-gradients steps",
                ],
            ],
        ]
    }

    private static func get(_ id: String, _ summary: String, _ ok: JSONValue) -> JSONValue {
        ["get": ["summary": .string(summary), "operationId": .string(id), "responses": ["200": ok, "500": ["$ref": "#/components/responses/Internal"]]]]
    }

    private static func ok(_ description: String, _ schema: JSONValue) -> JSONValue {
        ["description": .string(description), "content": ["application/json": ["schema": schema]]]
    }

    private static func ref(_ schema: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(schema)")] }

    private static func error(_ description: String, headers: JSONValue? = nil) -> JSONValue {
        var response: [String: JSONValue] = ["description": .string(description), "content": ["application/json": ["schema": ref("Error")]]]
        response["headers"] = headers
        return .object(response)
    }

    private static let responses: JSONValue = [
        "BadRequest": error(
            "Not JSON, not an object, neither or both of `text` and `texts`, an unknown field, or a value of the wrong type or out of range; "
                + "`field` names it"),
        "TooLarge": error("The body, the number of texts or one text is over the server's limit; `field` names the text"),
        "Unavailable": error(
            "More requests are waiting for a worker than --max-queue allows, or the server is shutting down: retry after `Retry-After` seconds",
            headers: ["Retry-After": ["required": true, "description": "Seconds to wait before retrying", "schema": ["type": "integer", "minimum": 1]]]),
        "Internal": error("Something the server did not expect; the message names no internals"),
        // No listed operation answers these two; they are here for their shape.
        "NotFound": error("A path not listed here, e.g. a model the server does not serve"),
        "MethodNotAllowed": error(
            "A listed path asked with a method not listed for it",
            headers: ["Allow": ["required": true, "description": "The methods the path takes", "schema": ["type": "string"]]]),
    ]

    /// A han sentence's span fields, in predictions and explanations alike.
    private static let sentenceFields: [String: JSONValue] = [
        "start": ["type": "integer", "description": "UTF-8 byte offset where the sentence begins"],
        "end": ["type": "integer", "description": "UTF-8 byte offset just past its end"],
        "first_token": ["type": "integer", "description": "Index of its first token in `tokens`"],
        "token_count": ["type": "integer", "description": "Its tokens in `tokens`"],
        "weight": ["type": "number", "description": "Sentence attention; a document's sum to 1"],
    ]

    /// Result objects are closed (`additionalProperties: false`): they are exactly what the CLI
    /// prints, and a field added to one without the document would be caught.
    private static let schemas: JSONValue = [
        "Error": [
            "type": "object", "required": ["error", "status"], "additionalProperties": false,
            "properties": [
                "error": ["type": "string", "description": "What is wrong, for a person"],
                "status": ["type": "integer", "description": "The HTTP status again"],
                "field": ["type": "string", "description": "The request field at fault, e.g. top_k or texts[3]"],
            ],
        ],
        "Health": [
            "type": "object", "required": ["status", "models", "workers"], "additionalProperties": false,
            "properties": ["status": ["type": "string", "enum": ["ok"]], "models": ["type": "integer"], "workers": ["type": "integer"]],
        ],
        "ModelList": ["type": "object", "required": ["models"], "properties": ["models": ["type": "array", "items": ref("ModelInfo")]]],
        "ModelInfo": [
            "type": "object",
            "required": ["name", "labels", "kind", "vocabulary_size", "attention", "methods", "default_explain", "training"],
            "properties": [
                "name": ["type": "string"],
                "labels": ["type": "array", "items": ["type": "string"], "description": "In the model's order"],
                "kind": ["type": "string", "description": "The network, as heed train --model names it"],
                "vocabulary_size": ["type": "integer"],
                "max_length": ["type": "integer", "description": "Flat models: tokens read per text; the rest is cut (`truncated`)"],
                "max_sentences": ["type": "integer", "description": "han models: sentences read per text; the rest are cut (`truncated`)"],
                "max_words": ["type": "integer", "description": "han models: tokens read per sentence; the rest are cut (`truncated`)"],
                "attention": ["type": "boolean"],
                "methods": ["type": "array", "items": ref("Method"), "description": "The explain methods this model supports"],
                "default_explain": [
                    "type": "array", "items": ref("Method"),
                    "description": "What a request without `explain` gets: attention where the model has it, else nothing",
                ],
                "calibration": [
                    "type": "object", "description": "The fitted temperature (absent: probabilities are the plain softmax)",
                    "properties": [
                        "temperature": ["type": "number"], "documents": ["type": "integer"], "nllBefore": ["type": "number"], "nllAfter": ["type": "number"],
                        "note": ["type": "string"],
                    ],
                ],
                "training": ["type": "object", "description": "The options the model was trained with (as in the model file)"],
            ],
        ],
        "Method": ["type": "string", "enum": .array(AttributionMethod.allCases.map { .string($0.rawValue) })],
        // Which result shape comes back follows from `explain`: none, plain predictions; any, explanations.
        "PredictResponse": [
            "type": "object", "required": ["model", "explain", "results"], "additionalProperties": false,
            "properties": [
                "model": ["type": "string"],
                "explain": ["type": "array", "items": ref("Method"), "description": "The methods used; empty: plain predictions"],
                "results": ["type": "array"],
            ],
            "oneOf": [
                ["properties": ["explain": ["maxItems": 0], "results": ["items": ref("Prediction")]]],
                ["properties": ["explain": ["minItems": 1], "results": ["items": ref("Explanation")]]],
            ],
        ],
        "LabelScore": [
            "type": "object", "required": ["label", "score"], "additionalProperties": false,
            "properties": ["label": ["type": "string"], "score": ["type": "number", "description": "Calibrated probability"]],
        ],
        "Probabilities": ["type": "object", "additionalProperties": ["type": "number"], "description": "Every label's calibrated probability"],
        "Prediction": [
            "type": "object", "description": "What `heed predict --json` prints", "additionalProperties": false,
            "required": ["text", "label", "probabilities", "labels", "tokens"],
            "properties": [
                "text": ["type": "string"],
                "label": ["type": "string", "description": "The most probable label"],
                "probabilities": ref("Probabilities"),
                "labels": ["type": "array", "items": ref("LabelScore"), "description": "Most probable first, as chosen by top_k and threshold"],
                "tokens": [
                    "type": "array",
                    "items": [
                        "type": "object", "required": ["text", "start", "end"], "additionalProperties": false,
                        "properties": [
                            "text": ["type": "string", "description": "The normalised token"],
                            "start": ["type": "integer", "description": "UTF-8 byte offset where the token begins"],
                            "end": ["type": "integer", "description": "UTF-8 byte offset just past its end"],
                            "weight": [
                                "type": "number",
                                "description": "Attention weight (attention models only; han: word attention × the sentence's attention)",
                            ],
                        ],
                    ],
                ],
                "sentences": [
                    "type": "array", "description": "Han models only: the sentences read, in order",
                    "items": [
                        "type": "object", "required": ["start", "end", "first_token", "token_count"], "additionalProperties": false,
                        "properties": .object(sentenceFields),
                    ],
                ],
            ],
        ],
        "Explanation": [
            "type": "object", "description": "What `heed explain --json` prints, plus `labels`", "additionalProperties": false,
            "required": ["text", "label", "probabilities", "labels", "tokens", "truncated", "target"],
            "properties": [
                "text": ["type": "string"],
                "label": ["type": "string"],
                "probabilities": ref("Probabilities"),
                "labels": ["type": "array", "items": ref("LabelScore")],
                "truncated": ["type": "boolean", "description": "The text had more tokens than the model reads"],
                "target": ["type": "string", "enum": ["logit", "probability"]],
                "integrated_gradients_delta": ["type": "number"],
                "integrated_gradients_gap": ["type": "number"],
                "tokens": [
                    "type": "array",
                    "items": [
                        "type": "object", "required": ["text", "start", "end", "scores"], "additionalProperties": false,
                        "properties": [
                            "text": ["type": "string"], "start": ["type": "integer"], "end": ["type": "integer"],
                            "scores": ["type": "object", "additionalProperties": ["type": "number"], "description": "One score per requested method"],
                        ],
                    ],
                ],
                "sentences": [
                    "type": "array", "description": "Han models only: the sentences read, in order, with their scores",
                    "items": [
                        "type": "object", "required": ["start", "end", "first_token", "token_count", "scores"], "additionalProperties": false,
                        "properties": .object(
                            sentenceFields.merging([
                                "scores": [
                                    "type": "object", "additionalProperties": ["type": "number"],
                                    "description":
                                        "Per requested method with a sentence-level score: attention (sentence attention), integrated-gradients (sum over the sentence's tokens), occlusion (the whole sentence left out)",
                                ]
                            ]) { $1 }),
                    ],
                ],
            ],
        ],
    ]
}
