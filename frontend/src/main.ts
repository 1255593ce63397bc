import "primeicons/primeicons.css"
import "./styles.css"

import Aura from "@primeuix/themes/aura"
import { VueQueryPlugin } from "@tanstack/vue-query"
import { createPinia } from "pinia"
import PrimeVue from "primevue/config"
import ToastService from "primevue/toastservice"
import { createApp } from "vue"

import { shouldRetry } from "@/api/errors"
import { configureApiClient } from "@/api/setup"
import App from "@/App.vue"
import { router } from "@/router"
import { startTheme } from "@/settings/theme"
import { useAuthStore } from "@/stores/auth"

startTheme()
const app = createApp(App)
const pinia = createPinia()
app.use(pinia)
app.use(PrimeVue, { theme: { preset: Aura, options: { darkModeSelector: ".omc-dark" } } })
app.use(ToastService)
app.use(VueQueryPlugin, {
  queryClientConfig: { defaultOptions: { queries: { retry: shouldRetry, refetchOnWindowFocus: false } } },
})

configureApiClient(() => {
  // The server no longer accepts the token: forget it and ask the user to log in again.
  useAuthStore(pinia).logout()
  const current = router.currentRoute.value
  if (!current.meta.public) void router.replace({ name: "login", query: { redirect: current.fullPath, expired: "1" } })
})

app.use(router)
app.mount("#app")
