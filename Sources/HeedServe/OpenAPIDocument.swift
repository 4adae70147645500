/// The OpenAPI document served at /openapi.json. docs/openapi.json is the same text (a test
/// keeps them equal), so the document is reviewed as a file and served without reading one.
enum OpenAPIDocument {
    static let json = #"""
        {
          "openapi": "3.1.0",
          "info": {
            "title": "heed serve",
            "version": "1",
            "description": "Text classification with attention-LSTMs over HTTP. Every result object is the JSON line `heed predict --json` (no method asked for) or `heed explain --json` (with `labels` added) prints for the same text. Token offsets are UTF-8 byte offsets into the text as sent. Errors are JSON objects with `error`, `status` and, when one field of the request is at fault, `field`. See docs/serve.md."
          },
          "paths": {
            "/health": {
              "get": {
                "summary": "Whether the server is up",
                "operationId": "health",
                "responses": {
                  "200": {
                    "description": "Up",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Health"
                        }
                      }
                    }
                  }
                }
              }
            },
            "/v1/models": {
              "get": {
                "summary": "The served models",
                "operationId": "listModels",
                "responses": {
                  "200": {
                    "description": "One entry per model, in the order given to heed serve",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/ModelList"
                        }
                      }
                    }
                  }
                }
              }
            },
            "/v1/models/{name}/predict": {
              "post": {
                "summary": "Label texts and score their tokens",
                "operationId": "predict",
                "parameters": [
                  {
                    "name": "name",
                    "in": "path",
                    "required": true,
                    "description": "A model's name: its file name without the extension",
                    "schema": {
                      "type": "string"
                    }
                  }
                ],
                "requestBody": {
                  "required": true,
                  "content": {
                    "application/json": {
                      "schema": {
                        "$ref": "#/components/schemas/PredictRequest"
                      }
                    }
                  }
                },
                "responses": {
                  "200": {
                    "description": "One result per text, in order",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/PredictResponse"
                        }
                      }
                    }
                  },
                  "400": {
                    "description": "Not JSON, a field of the wrong type or out of range, an unknown field, or a method the model lacks; `field` names it",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Error"
                        }
                      }
                    }
                  },
                  "404": {
                    "description": "No model of that name",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Error"
                        }
                      }
                    }
                  },
                  "405": {
                    "description": "Not POST; the `Allow` header says what is",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Error"
                        }
                      }
                    }
                  },
                  "413": {
                    "description": "The body, the number of texts or one text is over the server's limit; `field` names the text",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Error"
                        }
                      }
                    }
                  }
                }
              }
            },
            "/openapi.json": {
              "get": {
                "summary": "This document",
                "operationId": "openAPI",
                "responses": {
                  "200": {
                    "description": "The OpenAPI document",
                    "content": {
                      "application/json": {}
                    }
                  }
                }
              }
            },
            "/": {
              "get": {
                "summary": "The live page: type text and see it painted",
                "operationId": "page",
                "responses": {
                  "200": {
                    "description": "A self-contained HTML page",
                    "content": {
                      "text/html": {}
                    }
                  }
                }
              }
            }
          },
          "components": {
            "schemas": {
              "Error": {
                "type": "object",
                "required": [
                  "error",
                  "status"
                ],
                "properties": {
                  "error": {
                    "type": "string",
                    "description": "What is wrong, for a person"
                  },
                  "status": {
                    "type": "integer",
                    "description": "The HTTP status again"
                  },
                  "field": {
                    "type": "string",
                    "description": "The request field at fault, e.g. top_k or texts[3]"
                  }
                }
              },
              "Health": {
                "type": "object",
                "required": [
                  "status",
                  "models",
                  "workers"
                ],
                "properties": {
                  "status": {
                    "type": "string",
                    "enum": [
                      "ok"
                    ]
                  },
                  "models": {
                    "type": "integer"
                  },
                  "workers": {
                    "type": "integer"
                  }
                }
              },
              "ModelList": {
                "type": "object",
                "required": [
                  "models"
                ],
                "properties": {
                  "models": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/ModelInfo"
                    }
                  }
                }
              },
              "ModelInfo": {
                "type": "object",
                "required": [
                  "name",
                  "labels",
                  "kind",
                  "vocabulary_size",
                  "max_length",
                  "attention",
                  "methods",
                  "default_explain",
                  "training"
                ],
                "properties": {
                  "name": {
                    "type": "string"
                  },
                  "labels": {
                    "type": "array",
                    "items": {
                      "type": "string"
                    },
                    "description": "In the model's order"
                  },
                  "kind": {
                    "type": "string",
                    "description": "The network, as heed train --model names it"
                  },
                  "vocabulary_size": {
                    "type": "integer"
                  },
                  "max_length": {
                    "type": "integer",
                    "description": "Tokens read per text; the rest is cut (`truncated`)"
                  },
                  "attention": {
                    "type": "boolean"
                  },
                  "methods": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/Method"
                    },
                    "description": "The explain methods this model supports"
                  },
                  "default_explain": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/Method"
                    },
                    "description": "What a request without `explain` gets: attention where the model has it, else nothing"
                  },
                  "calibration": {
                    "type": "object",
                    "description": "The fitted temperature (absent: probabilities are the plain softmax)",
                    "properties": {
                      "temperature": {
                        "type": "number"
                      },
                      "documents": {
                        "type": "integer"
                      },
                      "nllBefore": {
                        "type": "number"
                      },
                      "nllAfter": {
                        "type": "number"
                      },
                      "note": {
                        "type": "string"
                      }
                    }
                  },
                  "training": {
                    "type": "object",
                    "description": "The options the model was trained with (as in the model file)"
                  }
                }
              },
              "Method": {
                "type": "string",
                "enum": [
                  "attention",
                  "gradient",
                  "grad-input",
                  "integrated-gradients",
                  "occlusion"
                ]
              },
              "PredictRequest": {
                "type": "object",
                "additionalProperties": false,
                "description": "Exactly one of `text` and `texts`.",
                "properties": {
                  "text": {
                    "type": "string"
                  },
                  "texts": {
                    "type": "array",
                    "items": {
                      "type": "string"
                    },
                    "minItems": 1,
                    "description": "At most --max-texts (64) texts; split over the workers"
                  },
                  "top_k": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "List the K most probable labels in `labels` (default 1, or no limit with `threshold`)"
                  },
                  "threshold": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1,
                    "description": "List every label with at least this probability"
                  },
                  "explain": {
                    "description": "Methods to score tokens by: a name, a comma-separated list, an array, \"all\" or \"none\". Default: attention where the model has it.",
                    "oneOf": [
                      {
                        "type": "string"
                      },
                      {
                        "type": "array",
                        "items": {
                          "$ref": "#/components/schemas/Method"
                        }
                      }
                    ]
                  },
                  "target": {
                    "type": "string",
                    "enum": [
                      "logit",
                      "probability"
                    ],
                    "default": "logit",
                    "description": "What gradients differentiate"
                  },
                  "steps": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 256,
                    "default": 32,
                    "description": "Integrated-gradients steps"
                  }
                }
              },
              "PredictResponse": {
                "type": "object",
                "required": [
                  "model",
                  "explain",
                  "results"
                ],
                "properties": {
                  "model": {
                    "type": "string"
                  },
                  "explain": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/Method"
                    },
                    "description": "The methods used; empty: plain predictions"
                  },
                  "results": {
                    "type": "array",
                    "items": {
                      "oneOf": [
                        {
                          "$ref": "#/components/schemas/Prediction"
                        },
                        {
                          "$ref": "#/components/schemas/Explanation"
                        }
                      ]
                    }
                  }
                }
              },
              "LabelScore": {
                "type": "object",
                "required": [
                  "label",
                  "score"
                ],
                "properties": {
                  "label": {
                    "type": "string"
                  },
                  "score": {
                    "type": "number",
                    "description": "Calibrated probability"
                  }
                }
              },
              "Prediction": {
                "type": "object",
                "description": "What `heed predict --json` prints",
                "required": [
                  "text",
                  "label",
                  "probabilities",
                  "labels",
                  "tokens"
                ],
                "properties": {
                  "text": {
                    "type": "string"
                  },
                  "label": {
                    "type": "string",
                    "description": "The most probable label"
                  },
                  "probabilities": {
                    "type": "object",
                    "additionalProperties": {
                      "type": "number"
                    },
                    "description": "Every label's calibrated probability"
                  },
                  "labels": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/LabelScore"
                    },
                    "description": "Most probable first, as chosen by top_k and threshold"
                  },
                  "tokens": {
                    "type": "array",
                    "items": {
                      "type": "object",
                      "required": [
                        "text",
                        "start",
                        "end"
                      ],
                      "properties": {
                        "text": {
                          "type": "string",
                          "description": "The normalised token"
                        },
                        "start": {
                          "type": "integer",
                          "description": "UTF-8 byte offset where the token begins"
                        },
                        "end": {
                          "type": "integer",
                          "description": "UTF-8 byte offset just past its end"
                        },
                        "weight": {
                          "type": "number",
                          "description": "Attention weight (attention models only)"
                        }
                      }
                    }
                  }
                }
              },
              "Explanation": {
                "type": "object",
                "description": "What `heed explain --json` prints, plus `labels`",
                "required": [
                  "text",
                  "label",
                  "probabilities",
                  "labels",
                  "tokens",
                  "truncated",
                  "target"
                ],
                "properties": {
                  "text": {
                    "type": "string"
                  },
                  "label": {
                    "type": "string"
                  },
                  "probabilities": {
                    "type": "object",
                    "additionalProperties": {
                      "type": "number"
                    }
                  },
                  "labels": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/LabelScore"
                    }
                  },
                  "truncated": {
                    "type": "boolean",
                    "description": "The text had more tokens than the model reads"
                  },
                  "target": {
                    "type": "string",
                    "enum": [
                      "logit",
                      "probability"
                    ]
                  },
                  "integrated_gradients_delta": {
                    "type": "number"
                  },
                  "integrated_gradients_gap": {
                    "type": "number"
                  },
                  "tokens": {
                    "type": "array",
                    "items": {
                      "type": "object",
                      "required": [
                        "text",
                        "start",
                        "end",
                        "scores"
                      ],
                      "properties": {
                        "text": {
                          "type": "string"
                        },
                        "start": {
                          "type": "integer"
                        },
                        "end": {
                          "type": "integer"
                        },
                        "scores": {
                          "type": "object",
                          "additionalProperties": {
                            "type": "number"
                          },
                          "description": "One score per requested method"
                        }
                      }
                    }
                  }
                }
              }
            }
          }
        }

        """#
}
