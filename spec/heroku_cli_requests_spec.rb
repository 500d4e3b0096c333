require "json"
require "net/http"

# The requests Heroku's CLI made for `ps:scale`, `ps:type` and `ps`
# (recorded by spec/fixtures/record_heroku_cli.rb), replayed against the
# local formation: it must answer each as the CLI needs, whether or not the
# CLI is installed here. spec/heroku_cli_spec.rb runs the CLI itself.
RSpec.describe "the Heroku CLI's recorded requests" do
  recording = JSON.parse(File.read(HerokuCli::FIXTURE))
  token = "recorded-cli-token-5f2e"
  formation_keys = %w[app command created_at dyno_size id quantity size type updated_at]
  dyno_keys = %w[app attach_url command created_at id name release size state type updated_at]

  let(:heroku) { FakeHeroku.start(app: HerokuCli::APP, token: token, formation: { "worker" => 0 }) }

  def replay(request, token)
    path = [request["path"], request["query"]].compact.join("?")
    headers = request["headers"].merge("Authorization" => "Bearer #{token}")
    http_request = Net::HTTP.const_get(request["method"].capitalize).new(path, headers)
    http_request.body = JSON.generate(request["body"]) if request.key?("body")
    Net::HTTP.start("127.0.0.1", heroku.port) { |http| http.request(http_request) }
  end

  it "were recorded from a 11.x CLI, with no credentials in them" do
    expect(recording["recorded_with"]).to match(%r{\Aheroku-cli/11\.})
    expect(File.read(HerokuCli::FIXTURE)).not_to match(/authorization|bearer|request-id/i)
  end

  it "send quantities as strings, absolute and relative, and the sdk variant for `heroku ps`" do
    requests = recording["steps"].flat_map { |step| step["requests"] }
    updates = requests.select { |request| request["method"] == "PATCH" }.map { |request| request["body"]["updates"] }

    expect(updates).to eq([[{ "quantity" => "3", "type" => "worker" }], [{ "quantity" => "+1", "type" => "worker" }],
                           [{ "size" => "Standard-2X", "type" => "worker" }], [{ "quantity" => "-1", "type" => "worker" }],
                           [{ "quantity" => "0", "type" => "worker" }]])
    expect(requests.map { |request| request["headers"]["accept"] }.uniq)
      .to contain_exactly("application/vnd.heroku+json; version=3", "application/vnd.heroku+json; version=3.sdk")
  end

  it "are answered as recorded, in the schema's shapes, and the formation follows" do
    recording["steps"].zip(HerokuCli::STEPS) do |step, expected|
      expect(step["args"]).to eq(expected[:args])
      step["requests"].each do |request|
        response = replay(request, token)
        what = "#{request['method']} #{request['path']} for heroku #{step['args'].join(' ')}"

        expect([what, response.code.to_i]).to eq([what, request["status"]])
        body = JSON.parse(response.body)
        case [request["method"], request["path"]]
        in ["GET", "/account"] then expect(body).to include("id", "email")
        in ["GET", "/apps/local"]
          expect(body).to include("name" => "local", "id" => heroku.app_id)
          expect(body).to include("stack" => include("name"), "region" => include("name"), "owner" => include("id"))
        in [_, "/apps/local/formation"]
          expect(body).to all(match(formation_keys.to_h { |key| [key, anything] }))
          expect(body.map { |process| process["type"] }).to include("worker")
        in ["GET", "/apps/local/dynos"]
          expect(body).to all(match(dyno_keys.to_h { |key| [key, anything] }))
          expect(body.map { |dyno| [dyno["name"], dyno["state"], dyno["size"]] }.sort)
            .to eq((1..expected[:quantity]).map { |number| ["worker.#{number}", "up", expected[:size]] })
        end
      end

      expect([step["args"], heroku.quantity("worker"), heroku.formation.find("worker").size])
        .to eq([step["args"], expected[:quantity], expected[:size]])
    end
  end
end
