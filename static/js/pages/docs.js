// Starts Swagger UI (the offline bundle from fastapi-offline, a classic script) on our OpenAPI schema.

if (!window.SwaggerUIBundle) throw new Error("Swagger UI did not load (/docs-assets/swagger-ui-bundle.js).");
window.SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui" });
