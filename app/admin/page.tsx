import type { Metadata } from "next";
import { AdminPanel } from "@/components/admin/AdminPanel";

export const metadata: Metadata = { title: "Access · Game Day" };

export default function AdminPage() {
  return <AdminPanel />;
}
