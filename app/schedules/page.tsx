import type { Metadata } from "next";
import { SchedulesPage } from "@/components/schedules/SchedulesPage";

export const metadata: Metadata = { title: "Schedules · Game Day" };

export default function Schedules() {
  return <SchedulesPage />;
}
