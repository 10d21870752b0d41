/**
 * The gateway's upload schedule: UTC windows (days of the week, 0 = Sunday,
 * and HH:MM start and end; an end before the start runs past midnight into
 * the next day). Uploads start only inside a window; an upload under way
 * when a window closes is finished (a part cut off would be sent again).
 * No windows: uploads may run at any time.
 */
export interface ScheduleWindow {
  days: number[];
  start: string;
  end: string;
}

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

export function inSchedule(windows: readonly ScheduleWindow[], at: Date): boolean {
  if (windows.length === 0) return true;
  const day = at.getUTCDay();
  const now = at.getUTCHours() * 60 + at.getUTCMinutes();
  return windows.some((w) => {
    const start = minutes(w.start);
    const end = minutes(w.end);
    if (start < end) return w.days.includes(day) && now >= start && now < end;
    // past midnight: the evening part on a listed day, the morning part on the day after one
    return (w.days.includes(day) && now >= start) || (w.days.includes((day + 6) % 7) && now < end);
  });
}
