-- Schedules (#12): a schedule per experiment calendar, every slot that did not simply fire, and who launched a run.
-- CreateTable
CREATE TABLE "Schedule" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "experimentYaml" TEXT NOT NULL,
    "experimentName" TEXT NOT NULL,
    "cron" TEXT NOT NULL,
    "timezone" TEXT NOT NULL,
    "windowJson" TEXT,
    "blackoutJson" TEXT NOT NULL,
    "minGapMs" INTEGER NOT NULL DEFAULT 0,
    "randomDelayMs" INTEGER NOT NULL DEFAULT 0,
    "policy" TEXT NOT NULL,
    "paused" BOOLEAN NOT NULL DEFAULT false,
    "createdBy" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSlotAt" DATETIME,
    "lastRunAt" DATETIME
);

-- CreateTable
CREATE TABLE "ScheduleSlot" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "scheduleId" TEXT NOT NULL,
    "slotAt" DATETIME NOT NULL,
    "outcome" TEXT NOT NULL,
    "reason" TEXT,
    "runId" TEXT,
    "recordedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "ScheduleSlot_scheduleId_fkey" FOREIGN KEY ("scheduleId") REFERENCES "Schedule" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- AddColumns
ALTER TABLE "Run" ADD COLUMN "launchedBy" TEXT NOT NULL DEFAULT 'person';
ALTER TABLE "Run" ADD COLUMN "scheduleId" TEXT;
ALTER TABLE "Run" ADD COLUMN "budgetJson" TEXT;

-- CreateIndex
CREATE UNIQUE INDEX "Schedule_name_key" ON "Schedule"("name");
CREATE INDEX "ScheduleSlot_scheduleId_slotAt_idx" ON "ScheduleSlot"("scheduleId", "slotAt");
