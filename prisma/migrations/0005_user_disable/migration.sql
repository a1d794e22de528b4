-- Disabled users (kept so the history that names them stays true; see schema.prisma).
-- AlterTable
ALTER TABLE "User" ADD COLUMN "disabledAt" DATETIME;
