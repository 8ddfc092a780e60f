// Starts Swagger UI on our OpenAPI schema (kept out of the HTML: the CSP allows no inline script).
window.SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui" });
