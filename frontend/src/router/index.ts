import { createRouter, createWebHistory, type RouteRecordRaw } from "vue-router"

import { useAuthStore } from "@/stores/auth"

const routes: RouteRecordRaw[] = [
  {
    path: "/login",
    name: "login",
    component: () => import("@/views/LoginView.vue"),
    meta: { public: true, title: "Log in" },
  },
  {
    path: "/",
    component: () => import("@/layouts/AppLayout.vue"),
    children: [
      { path: "", name: "dashboard", component: () => import("@/views/DashboardView.vue"), meta: { title: "Dashboard" } },
      { path: "markets", name: "markets", component: () => import("@/markets/MarketsView.vue"), meta: { title: "Markets" } },
      { path: "markets/:coin", name: "coin", component: () => import("@/markets/CoinView.vue"), props: true, meta: { title: "Coin" } },
      { path: "lab", name: "lab", component: () => import("@/views/LabView.vue"), meta: { title: "Lab" } },
      { path: "lab/algorithms/:id", name: "algorithm", component: () => import("@/lab/AlgorithmView.vue"), props: true, meta: { title: "Algorithm" } },
      { path: "lab/algorithms/:id/sweep", name: "sweep", component: () => import("@/lab/SweepView.vue"), props: true, meta: { title: "Sweep" } },
      { path: "lab/backtests/:id", name: "backtest", component: () => import("@/lab/BacktestView.vue"), props: true, meta: { title: "Backtest" } },
      {
        path: "lab/compare",
        name: "compare",
        component: () => import("@/lab/CompareView.vue"),
        props: (route) => ({ ids: String(route.query.ids ?? "") }),
        meta: { title: "Compare" },
      },
      // Promotion and deployment (issue 16: releases, deploy, a deployment's page).
      { path: "lab/releases", name: "releases", component: () => import("@/lab/ReleasesView.vue"), meta: { title: "Releases" } },
      { path: "floor/deploy", name: "floor-deploy", component: () => import("@/floor/deploy/DeployView.vue"), meta: { title: "Deploy" } },
      { path: "floor/deployments/:id", name: "deployment", component: () => import("@/floor/DeploymentView.vue"), props: true, meta: { title: "Deployment" } },
      // The Floor dashboard and the alerts centre (issue 16).
      { path: "floor", name: "floor", component: () => import("@/floor/FloorView.vue"), meta: { title: "Floor" } },
      { path: "alerts", name: "alerts", component: () => import("@/floor/AlertsView.vue"), meta: { title: "Alerts" } },
      { path: "settings", name: "settings", component: () => import("@/views/SettingsView.vue"), meta: { title: "Settings" } },
      { path: "settings/security", name: "settings-security", component: () => import("@/settings/SecurityView.vue"), meta: { title: "Security" } },
      { path: "settings/sessions", name: "settings-sessions", component: () => import("@/settings/SessionsView.vue"), meta: { title: "Sessions" } },
      { path: "settings/coinspot", name: "coinspot-keys", component: () => import("@/settings/CoinspotKeysView.vue"), meta: { title: "Coinspot API keys" } },
      { path: "profile", name: "profile", component: () => import("@/views/ProfileView.vue"), meta: { title: "Profile" } },
    ],
  },
  { path: "/:pathMatch(.*)*", name: "not-found", component: () => import("@/views/NotFoundView.vue"), meta: { public: true, title: "Not found" } },
]

export const router = createRouter({ history: createWebHistory(), routes })

router.beforeEach(async (to) => {
  const auth = useAuthStore()
  await auth.restore() // silent refresh from the HttpOnly cookie after a page load
  if (!to.meta.public && !auth.isLoggedIn) {
    return { name: "login", query: to.fullPath === "/" ? {} : { redirect: to.fullPath } }
  }
  if (to.name === "login" && auth.isLoggedIn) return { name: "dashboard" }
  return true
})

router.afterEach((to) => {
  const title = typeof to.meta.title === "string" ? to.meta.title : ""
  document.title = title ? `${title} · Oh My Coins` : "Oh My Coins"
})
