require "rbconfig"
require "securerandom"
require "tmpdir"

# Heroku's own CLI, unchanged, against a `middle_management local` process:
# it must succeed as against api.heroku.com, and the processes must follow.
# Skipped, saying why, where the CLI is not installed (bin/setup installs
# it when npm can reach its registry); spec/heroku_cli_requests_spec.rb
# replays what it sends on every run.
RSpec.describe "Heroku's CLI against middle_management local", time_limit: 180 do
  around do |example|
    Dir.mktmpdir("heroku-cli") do |dir|
      @dir = dir
      example.run
    end
  end

  before { skip(HerokuCli.missing_reason) unless HerokuCli.path }

  let(:exe) { File.expand_path("../exe/middle_management", __dir__) }

  # The local command's workers: its children running `sleep`, not zombies.
  def workers(parent)
    Dir.glob("/proc/[0-9]*/stat").count do |path|
      stat = File.read(path)
      state, ppid = stat.rpartition(")").last.split
      stat[/\((.*)\)/, 1] == "sleep" && ppid.to_i == parent && state != "Z"
    rescue SystemCallError
      false # exited while we looked
    end
  end

  # What each command prints, as patterns: the CLI pads its tables to the
  # width of the terminal it finds (none here), so a row's spacing is not ours to fix.
  def expected_output(step)
    case step[:args].first
    when "ps:scale" then [/done, now running worker at #{step[:quantity]}:#{step[:size]}/]
    when "ps:type" then [/Process Types/, /^\s*worker\s+#{step[:size]}\s+#{step[:quantity]}\s/]
    else (1..step[:quantity]).map { |number| /worker\.#{number}: up/ } + [/worker \(#{step[:size]}\): sleep 1000/]
    end
  end

  it "scales with ps:scale (absolute and relative), resizes with ps:type and lists with ps; the processes follow" do
    File.write(File.join(@dir, "Procfile"), "worker: sleep 1000\n")
    token = "cli-spec-#{SecureRandom.hex(12)}"
    local = start_child({ "MIDDLE_MANAGEMENT_HEROKU_API_KEY" => nil }, RbConfig.ruby, exe, "local", "--procfile",
                        File.join(@dir, "Procfile"), "--port", "0", "--grace", "2", "--token", token)
    url = await("the local formation's URL", saw: -> { local.output }) { local.output[%r{ on (http://127\.0\.0\.1:\d+)$}, 1] }

    HerokuCli::STEPS.each do |step|
      command = "heroku #{step[:args].join(' ')}"
      output, status = HerokuCli.run(url, token, *step[:args], home: File.join(@dir, "home"))

      expect([command, status.exitstatus]).to eq([command, 0]), "#{command} failed:\n#{output}"
      expected_output(step).each do |pattern|
        expect(output).to match(pattern), "#{command} printed no line matching #{pattern.inspect}:\n#{output}"
      end
      await("#{step[:quantity]} workers after #{command}", saw: -> { "#{workers(local.pid)} running:\n#{local.output}" }) do
        workers(local.pid) == step[:quantity]
      end
    end
  end
end
