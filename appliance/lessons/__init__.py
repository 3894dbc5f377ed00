"""What the box says and why: activities, the turn planner, the guard rails, language data."""
