# The adapter contract (Backends::Backend): every job library's adapter is
# one, the gem calls the optional methods without asking, and an adapter
# that leaves out a required one says which, naming itself.
RSpec.describe MiddleManagement::Backends::Backend do
  backends = MiddleManagement::Backends.constants.map { |name| MiddleManagement::Backends.const_get(name) }
                                       .select { |constant| constant.is_a?(Module) && constant.singleton_class <= described_class }

  it "is what every adapter the gem tries extends" do
    expect(backends).to include(*%w[DelayedJob Sidekiq Resque GoodJob SolidQueue].map { |name| MiddleManagement::Backends.const_get(name) })
  end

  it "defines each required method in every adapter" do
    backends.each do |backend|
      %i[available? install count].each do |method|
        expect(backend.method(method).owner).not_to eq(described_class), "#{backend.name} lacks #{method}"
      end
    end
  end

  describe "an adapter that defines only what it must" do
    subject(:backend) do
      Module.new do
        extend MiddleManagement::Backends::Backend

        def self.name = "MiddleManagement::Backends::Minimal"
      end
    end

    it "has the optional methods' defaults" do
      expect(backend.store("app")).to be_nil
      expect(backend.busy_lag).to be_nil
      expect(backend.beat(%w[worker.1])).to be_nil
    end

    it "names itself and the method for a required one it lacks" do
      expect { backend.count(MiddleManagement::Configuration::Pool.new("worker"), cap: nil) }
        .to raise_error(NotImplementedError, /Backends::Minimal does not define count\(pool, cap:\)/)
      expect { backend.available? }.to raise_error(NotImplementedError, /available\?/)
      expect { backend.install(nil) }.to raise_error(NotImplementedError, /install\(agent\)/)
    end

    it "counts for the busy lag as one with none" do
      log = instance_double(MiddleManagement::Log, once: nil)
      expect(MiddleManagement::Backends.busy_lag([backend], scale_down_delay: 0.0, log: log)).to eq(0)
    end
  end
end
