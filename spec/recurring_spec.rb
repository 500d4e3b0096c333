require "time"

# Recurring jobs' next occurrences, read as GoodJob and Solid Queue read
# their schedules (Fugit): pure, at a given time.
RSpec.describe MiddleManagement::Backends::Recurring do
  let(:now) { Time.parse("2026-12-01 15:00:30 UTC") }

  it "gives the seconds to the earliest next occurrence, from cron lines and Fugit's natural forms" do
    expect(described_class.next_in(["*/5 * * * *", "every 2 minutes"], now: now)).to eq(90.0)
    expect(described_class.next_in(["0 16 * * *"], now: now, zone: "UTC")).to eq(3570.0)
    expect(described_class.next_in([], now: now)).to be_nil
  end

  it "reads a schedule naming no zone in the zone given (Solid Queue's time_zone), and keeps one that names its own" do
    expect(described_class.next_in(["0 16 * * *"], now: now, zone: "Europe/Paris")).to eq(86_370.0) # 16:00 Paris is 15:00 UTC: tomorrow
    expect(described_class.next_in(["0 16 * * * UTC"], now: now, zone: "Europe/Paris")).to eq(3570.0)
  end

  it "yields each schedule it cannot read, to be said once, and goes on with the others" do
    unreadable = []
    seconds = described_class.next_in(["not a schedule", "#<Proc:0x0001>", "* * * * *"], now: now) { |s| unreadable << s }
    expect(seconds).to eq(30.0)
    expect(unreadable).to eq(["not a schedule", "#<Proc:0x0001>"])
  end
end
