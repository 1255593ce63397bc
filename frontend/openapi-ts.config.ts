import { defineConfig } from "@hey-api/openapi-ts"

// The backend's schema is dumped to openapi.json by scripts/generate-client.sh.
export default defineConfig({
  input: "./openapi.json",
  output: "./src/client",
  plugins: ["@hey-api/client-fetch", "@hey-api/typescript", "@hey-api/sdk"],
})
