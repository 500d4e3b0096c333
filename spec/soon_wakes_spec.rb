# The wakes a job's end owes a moment later (GoodJob and Solid Queue record
# the end after Active Job's perform event): pure, on a given clock.
RSpec.describe MiddleManagement::Runtime::SoonWakes do
  subject(:wakes) { described_class.new }

  let(:settle) { described_class::SETTLE }

  it "hands out each pool's wake once it is due, and only then" do
    wakes.add(0, now: 10.0)
    expect(wakes.next_in(now: 10.0)).to eq(settle)
    expect(wakes.due(now: 10.0 + settle - 0.01)).to eq([])
    expect(wakes.due(now: 10.0 + settle)).to eq([0])
    expect(wakes.due(now: 20.0)).to eq([])
    expect(wakes.next_in(now: 20.0)).to be_nil
  end

  it "owes one wake per pool for many job ends, timed by the first" do
    wakes.add(1, now: 10.0)
    wakes.add(1, now: 10.3)
    wakes.add(0, now: 10.2)
    expect(wakes.next_in(now: 10.3)).to be_within(1e-9).of(settle - 0.3)
    expect(wakes.due(now: 10.0 + settle)).to eq([1])
    expect(wakes.due(now: 10.2 + settle)).to eq([0])
  end

  it "never says a wake is owed in the past" do
    wakes.add(0, now: 10.0)
    expect(wakes.next_in(now: 99.0)).to eq(0.0)
  end
end
