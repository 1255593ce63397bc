/**
 * `useLiveEvents()`: the app's one live connection, started by the signed-in layout.
 *
 * Rules kept here: it connects with the in-memory access token (a refused token gets one
 * silent refresh), follows sign-in and sign-out, sends the store's stale marks to vue-query
 * and its notices to PrimeVue's Toast, and returns the store for the connection state.
 */
import { useQueryClient } from "@tanstack/vue-query"
import { useToast } from "primevue/usetoast"
import { onBeforeUnmount } from "vue"

import { refreshAccessToken } from "@/api/refresh"
import { onTokenChange, readToken } from "@/api/token"

import { liveUrl } from "./live"
import { useFloorStore } from "./store"

export function useLiveEvents(): ReturnType<typeof useFloorStore> {
  const store = useFloorStore()
  const queries = useQueryClient()
  const toast = useToast()
  const base = import.meta.env.VITE_API_URL ?? ""

  const start = (): void => {
    store.connect(
      {
        invalidate: (keys) => {
          for (const queryKey of keys) void queries.invalidateQueries({ queryKey: [...queryKey] })
        },
        notify: (notice) => toast.add({ ...notice, life: notice.severity === "error" ? 10_000 : 5_000 }),
      },
      { url: liveUrl(base), token: readToken, refreshToken: () => refreshAccessToken(base) },
    )
  }
  if (readToken()) start()
  const off = onTokenChange((token) => {
    if (!token) store.disconnect()
    else if (store.connection === "stopped" || store.connection === "idle" || store.connection === "unauthorised") start()
  })
  onBeforeUnmount(() => {
    off()
    store.disconnect()
  })
  return store
}
