import { Dashboard } from "@/components/dashboard/Dashboard";

export default function Home() {
  return <Dashboard />;
}
