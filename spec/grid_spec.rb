require "spec_helper"
require "middle_management/simulation/grid"

# Simulation::Grid's reading of its points, from known reports (the
# replays themselves are run in spec/simulate_spec.rb).
RSpec.describe MiddleManagement::Simulation::Grid::Result do
  def point(name, cost, p95) = MiddleManagement::Simulation::Grid::Point.new(
    name: name, settings: {}, report: { cost: cost, wait_p95: p95, calls: 1, killed: 0 }
  )

  it "keeps the points no other beats on both cost and wait, one of each alike pair" do
    points = [point("a", 1.0, 50), point("a again", 1.0, 50), point("b", 2.0, 10), point("worse", 2.0, 60)]
    result = described_class.new(points, point("the defaults", 2.2, 40), [point("peer", 2.1, 30)])
    expect(result.frontier.map(&:name)).to eq(%w[a b])
    expect(result.cheapest_as_fast.name).to eq("b")
    expect(result.defaults_extra).to be_within(1e-9).of(10.0)
    expect(result.peers_beating_defaults.map(&:name)).to eq(["peer"])
  end

  it "says so when no searched setting waits as little as the defaults (their flags outside the grid)" do
    result = described_class.new([point("a", 1.0, 50)], point("the defaults", 3.0, 5), [])
    expect(result.cheapest_as_fast).to be_nil
    expect(result.to_h).to include(cheapest_as_fast: nil, defaults_extra_percent: nil)
    expect(result.to_s).to include("no searched setting waits as little at p95")
  end
end
