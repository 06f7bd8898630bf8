"""The product run locally: emulated AWS (moto) built from template.yaml, the sandbox
platform, and the real handlers. A development tool: never deployed."""
