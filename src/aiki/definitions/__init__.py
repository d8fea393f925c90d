"""What users define: tasks, workflows, events, schedules, and the options they take."""
